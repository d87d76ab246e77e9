#include "runtimes.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness_internal.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace palisade::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string tempDir(const std::string& what) {
    std::string tmpl = "/tmp/pal-e2e-" + what + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) detail::throwErrno("mkdtemp " + tmpl);
    return tmpl;
}

void writeText(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

std::string readText(const fs::path& path) {
    std::string text;
    if (!detail::readFile(path, text)) detail::throwErrno("read " + path.string());
    return text;
}

// The mount points below `dir` in /proc/self/mountinfo, deepest first.
std::vector<std::string> mountsBelow(const std::string& dir) {
    std::vector<std::string> found;
    std::ifstream info("/proc/self/mountinfo");
    for (std::string line; std::getline(info, line);) {
        std::istringstream fields(line);
        std::string skip, point;
        fields >> skip >> skip >> skip >> skip >> point;
        // Octal escapes (\040 for a space) do not occur in the paths made here.
        if (point.starts_with(dir + "/")) found.push_back(point);
    }
    std::ranges::sort(found, [](const auto& a, const auto& b) { return a.size() > b.size(); });
    return found;
}

// What a runtime leaves mounted (overlays, its own bind mounts) is detached, then the
// directory removed; errors are reported, not thrown (this runs in destructors).
void removeStateDir(const std::string& dir) {
    if (dir.empty()) return;
    for (const std::string& point : mountsBelow(dir)) umount2(point.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) std::fprintf(stderr, "e2e: cannot remove %s: %s\n", dir.c_str(), ec.message().c_str());
}

std::string checked(const RunResult& r, const std::string& what) {
    if (!r.ok()) {
        throw std::runtime_error(what + " failed (exit " + std::to_string(r.exitCode) +
                                 (r.timedOut ? ", timed out" : "") + "): " + r.output);
    }
    return r.output;
}

// Polls `ready` every 200 ms until it is true or `daemon` exits or 60 s pass.
void waitUntilUp(const Daemon& daemon, const std::string& what,
                 const std::function<bool()>& ready) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
        if (ready()) return;
        if (!daemon.running()) {
            throw std::runtime_error(what + " exited at start:\n" + daemon.logTail());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    throw std::runtime_error(what + " not up in 60 s:\n" + daemon.logTail());
}

// The cgroup tree of the sandbox, as runtimes take a cgroup parent: "/palisade-test-P-N".
std::string treeRelative(Sandbox& sandbox) {
    return sandbox.cgroups().relativeToMount(sandbox.cgroups().path());
}

std::string ociArchitecture() {
    utsname u{};
    uname(&u);
    const std::string machine = u.machine;
    return machine == "x86_64" ? "amd64" : machine == "aarch64" ? "arm64" : machine;
}

// Writes `data` as a blob of an OCI image layout; returns its descriptor.
json addBlob(const fs::path& layout, const std::string& mediaType, const std::string& data) {
    const std::string hex = detail::sha256Hex(data);
    writeText(layout / "blobs" / "sha256" / hex, data);
    return {{"mediaType", mediaType}, {"digest", "sha256:" + hex}, {"size", data.size()}};
}

}  // namespace

// ---------------------------------------------------------------------------

BusyboxImage::BusyboxImage(const std::string& dir) {
    const fs::path root = fs::path(dir) / "rootfs";
    fs::create_directories(root / "bin");
    fs::create_directories(root / "tmp");
    fs::permissions(root / "tmp", fs::perms::all | fs::perms::sticky_bit);
    fs::copy_file("/bin/busybox", root / "bin/busybox");
    for (const char* applet : {"sh", "sleep", "true", "cat", "id", "ls", "kill"}) {
        fs::create_symlink("busybox", root / "bin" / applet);
    }
    fs::copy_file(PALISADE_NET_PROBE, root / "net_probe");
    fs::copy_file(PALISADE_EXEC_PROBE, root / "exec_probe");
    fs::copy_file(PALISADE_EXEC_PROBE, root / "setuid_probe");
    fs::permissions(root / "setuid_probe", fs::perms::set_uid, fs::perm_options::add);
    rootfsTar_ = dir + "/rootfs.tar";
    runChecked({"tar", "--numeric-owner", "--owner=0", "--group=0", "-C", root.string(), "-cf",
                rootfsTar_, "."});

    // The same root file system as one layer of an OCI image, for `ctr images import`.
    const fs::path layout = fs::path(dir) / "oci";
    const std::string layer = readText(rootfsTar_);
    const json layerDesc = addBlob(layout, "application/vnd.oci.image.layer.v1.tar", layer);
    const json config{{"architecture", ociArchitecture()},
                      {"os", "linux"},
                      {"config", json::object()},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", {layerDesc["digest"]}}}}};
    const json manifest{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", addBlob(layout, "application/vnd.oci.image.config.v1+json", config.dump())},
        {"layers", {layerDesc}}};
    json manifestDesc =
        addBlob(layout, "application/vnd.oci.image.manifest.v1+json", manifest.dump());
    manifestDesc["annotations"] = {{"io.containerd.image.name", kName},
                                   {"org.opencontainers.image.ref.name", "latest"}};
    writeText(layout / "index.json",
              json{{"schemaVersion", 2}, {"manifests", {manifestDesc}}}.dump());
    writeText(layout / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    ociTar_ = dir + "/image.oci.tar";
    runChecked({"tar", "-C", layout.string(), "-cf", ociTar_, "oci-layout", "index.json", "blobs"});
}

// ---------------------------------------------------------------------------

Daemon::Daemon(const std::vector<std::string>& argv, const std::string& netns,
               const std::string& log)
    : log_(log) {
    pid_ = detail::forkChild();
    if (pid_ == 0) {
        int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(126);
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in >= 0) dup2(in, 0);
        if (!netns.empty()) {
            const std::string failed = detail::enterPlacement(Placement{netns, ""});
            if (!failed.empty()) {
                std::fprintf(stderr, "%s\n", failed.c_str());
                _exit(126);
            }
        }
        std::vector<char*> args;
        for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
}

bool Daemon::running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

std::string Daemon::logTail() const {
    std::string text;
    detail::readFile(log_, text);
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

void Daemon::stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline && waitpid(pid_, nullptr, WNOHANG) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (waitpid(pid_, nullptr, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
}

// ---------------------------------------------------------------------------

Dockerd::Dockerd(Sandbox& sandbox, const BusyboxImage& image) {
    dir_ = tempDir("docker");
    dataRoot_ = dir_ + "/data";
    socket_ = dir_ + "/docker.sock";
    cgroupParent_ = treeRelative(sandbox) + "/docker";
    writeText(dir_ + "/daemon.json", "{}\n");
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"dockerd",
                                                                "--config-file",
                                                                dir_ + "/daemon.json",
                                                                "--data-root",
                                                                dataRoot_,
                                                                "--exec-root",
                                                                dir_ + "/exec",
                                                                "--pidfile",
                                                                dir_ + "/docker.pid",
                                                                "--host",
                                                                "unix://" + socket_,
                                                                "--iptables=false",
                                                                "--ip6tables=false",
                                                                "--ip-masq=false",
                                                                "--userland-proxy=false",
                                                                "--bip",
                                                                std::string(kBridgeIp) + "/24",
                                                                "--exec-opt",
                                                                "native.cgroupdriver=cgroupfs",
                                                                "--cgroup-parent",
                                                                cgroupParent_,
                                                                "--storage-driver",
                                                                "overlay2",
                                                                "--log-level",
                                                                "warn"},
                                       sandbox.bridgeNetns(), dir_ + "/dockerd.log");
    waitUntilUp(*daemon_, "dockerd", [this] { return docker({"version"}, Millis{5000}).ok(); });
    dockerChecked({"import", image.rootfsTar(), BusyboxImage::kName});
}

Dockerd::~Dockerd() {
    const RunResult ids = docker({"ps", "--all", "--quiet", "--no-trunc"});
    std::istringstream list(ids.output);
    for (std::string id; list >> id;) docker({"rm", "--force", "--volumes", id});
    docker({"rmi", "--force", BusyboxImage::kName});
    daemon_->stop();
    removeStateDir(dir_);
}

RunResult Dockerd::docker(const std::vector<std::string>& args, Millis timeout) const {
    std::vector<std::string> argv{"/usr/bin/docker", "--host", "unix://" + socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout);
}

std::string Dockerd::dockerChecked(const std::vector<std::string>& args) const {
    return checked(docker(args), "docker " + detail::joinArgv(args));
}

// ---------------------------------------------------------------------------

Containerd::Containerd(Sandbox& sandbox, const BusyboxImage& image) {
    dir_ = tempDir("containerd");
    state_ = dir_ + "/state";
    socket_ = dir_ + "/containerd.sock";
    cgroupTree_ = treeRelative(sandbox);
    // Without the CRI plugin: no CNI, no kubelet; the containers are made as it makes them.
    writeText(dir_ + "/config.toml", "version = 2\nroot = \"" + dir_ + "/root\"\nstate = \"" +
                                         state_ +
                                         "\"\n"
                                         "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                         "[grpc]\n  address = \"" +
                                         socket_ + "\"\n");
    daemon_ = std::make_unique<Daemon>(
        std::vector<std::string>{"containerd", "--config", dir_ + "/config.toml", "--log-level",
                                 "warn"},
        "", dir_ + "/containerd.log");
    waitUntilUp(*daemon_, "containerd", [this] { return ctr({"version"}, Millis{5000}).ok(); });
    ctrChecked({"images", "import", image.ociTar()});
}

Containerd::~Containerd() {
    for (const std::string& id : made_) {
        ctr({"tasks", "kill", "--signal", "SIGKILL", id});
        for (int i = 0; i < 50 && !ctr({"tasks", "delete", id}).ok(); i++) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        ctr({"containers", "delete", id});
    }
    ctr({"images", "remove", BusyboxImage::kName});
    daemon_->stop();
    removeStateDir(dir_);
}

RunResult Containerd::ctr(const std::vector<std::string>& args, Millis timeout) const {
    std::vector<std::string> argv{"ctr", "--address", socket_, "--namespace", "k8s.io"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout);
}

std::string Containerd::ctrChecked(const std::vector<std::string>& args) const {
    return checked(ctr(args), "ctr " + detail::joinArgv(args));
}

std::string Containerd::runPodContainer(const std::string& k8sNamespace, const std::string& pod,
                                        const std::string& name, const Container& network,
                                        const std::vector<std::string>& command) {
    const std::string seed = k8sNamespace + "/" + pod + "/" + name + ":" + dir_;
    const std::string id = detail::sha256Hex(seed);
    const std::string u = detail::sha256Hex("uid:" + seed);
    const std::string podUid = u.substr(0, 8) + "-" + u.substr(8, 4) + "-" + u.substr(12, 4) + "-" +
                               u.substr(16, 4) + "-" + u.substr(20, 12);
    std::vector<std::string> args{"run",
                                  "--detach",
                                  "--cgroup",
                                  cgroupTree_ + "/kubepods/burstable/pod" + podUid + "/" + id,
                                  "--annotation",
                                  "io.kubernetes.cri.container-type=container",
                                  "--annotation",
                                  "io.kubernetes.cri.container-name=" + name,
                                  "--annotation",
                                  "io.kubernetes.cri.sandbox-name=" + pod,
                                  "--annotation",
                                  "io.kubernetes.cri.sandbox-namespace=" + k8sNamespace,
                                  "--annotation",
                                  "io.kubernetes.cri.sandbox-uid=" + podUid,
                                  "--with-ns",
                                  "network:/run/netns/" + network.netns,
                                  BusyboxImage::kName,
                                  id};
    args.insert(args.end(), command.begin(), command.end());
    made_.push_back(id);
    ctrChecked(args);
    return id;
}

RunResult Containerd::exec(const std::string& id, const std::vector<std::string>& command) const {
    static int serial = 0;
    std::vector<std::string> args{"tasks", "exec", "--exec-id", "e2e-" + std::to_string(++serial),
                                  id};
    args.insert(args.end(), command.begin(), command.end());
    return ctr(args);
}

// ---------------------------------------------------------------------------

Podman::Podman(Sandbox& sandbox, const BusyboxImage& image) {
    bridgeNetns_ = sandbox.bridgeNetns();
    dir_ = tempDir("podman");
    root_ = dir_ + "/root";
    runRoot_ = dir_ + "/run";
    hooksDir_ = dir_ + "/hooks.d";
    fs::create_directories(hooksDir_);
    fs::create_directories(dir_ + "/networks");
    std::ofstream(dir_ + "/networks/" + kCniNetwork + ".conflist") << nlohmann::json{
        {"cniVersion", "0.4.0"},
        {"name", kCniNetwork},
        {"plugins",
         {{{"type", "bridge"},
           {"bridge", "palcni0"},
           {"isGateway", true},
           {"ipMasq", false},
           {"ipam",
            {{"type", "host-local"},
             {"dataDir", dir_ + "/cni-ipam"},
             {"routes", {{{"dst", "0.0.0.0/0"}}}},
             {"ranges",
              {{{{"subnet", std::string(kCniSubnet) + ".0/24"},
                 {"gateway", std::string(kCniSubnet) + ".1"}}}}}}}}}}}.dump();
    cgroupParent_ = treeRelative(sandbox) + "/podman";
    podmanChecked({"import", image.rootfsTar(), BusyboxImage::kName});
}

Podman::~Podman() {
    podman({"rm", "--all", "--force", "--time", "0"});
    podman({"rmi", "--all", "--force"});
    removeStateDir(dir_);
}

RunResult Podman::podman(const std::vector<std::string>& args, Millis timeout) const {
    // crun refuses a hybrid cgroup host; runc does not.
    std::vector<std::string> argv{"podman",
                                  "--root",
                                  root_,
                                  "--runroot",
                                  runRoot_,
                                  "--tmpdir",
                                  dir_ + "/tmp",
                                  "--cgroup-manager",
                                  "cgroupfs",
                                  "--runtime",
                                  "runc",
                                  "--events-backend",
                                  "file",
                                  "--storage-driver",
                                  "overlay",
                                  "--network-config-dir",
                                  dir_ + "/networks",
                                  "--volumepath",
                                  dir_ + "/volumes",
                                  "--hooks-dir",
                                  hooksDir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout, Placement{bridgeNetns_, ""});
}

std::string Podman::podmanChecked(const std::vector<std::string>& args) const {
    return checked(podman(args), "podman " + detail::joinArgv(args));
}

std::vector<std::string> Podman::placement(const Container& network) const {
    return placementOn("ns:/run/netns/" + network.netns);
}

std::vector<std::string> Podman::placementOnCniNetwork() const { return placementOn(kCniNetwork); }

std::vector<std::string> Podman::placementOn(const std::string& network) const {
    return {"--cgroup-parent", cgroupParent_,      "--network", network,
            "--ulimit",        "nofile=1024:1024", "--ulimit",  "nproc=4096:4096"};
}

// ---------------------------------------------------------------------------

void removeCgroupV1Dirs(const std::string& relative) {
    std::ifstream info("/proc/self/mountinfo");
    for (std::string line; std::getline(info, line);) {
        const size_t dash = line.find(" - cgroup ");
        if (dash == std::string::npos) continue;
        std::istringstream fields(line);
        std::string skip, point;
        fields >> skip >> skip >> skip >> skip >> point;
        const fs::path top = point + relative;
        std::error_code ec;
        if (!fs::is_directory(top, ec)) continue;
        std::vector<fs::path> dirs{top};
        for (auto it = fs::recursive_directory_iterator(top, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec)) dirs.push_back(it->path());
        }
        std::ranges::sort(dirs, [](const auto& a, const auto& b) {
            return a.string().size() > b.string().size();
        });
        for (const fs::path& dir : dirs) {
            if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
                std::fprintf(stderr, "e2e: cannot remove %s: %s\n", dir.c_str(),
                             std::strerror(errno));
            }
        }
    }
}

}  // namespace palisade::test
