// Container start → policy in force, with real runtimes (palisade-runtime-bench; bench/run.py's
// `runtimes` part). For each runtime, in a sandbox of its own (tests/e2e/runtimes.h: a
// dockerd or podman with state of their own, the busybox image), a running agent, and N
// container starts one after the other:
//
//   t0  the container's cgroup directory appears (inotify IN_CREATE on its parent)
//   t1  the agent's container-started event for that cgroup reaches the event file
//       (inotify IN_MODIFY); the agent writes it after the container's entry is in the
//       kernel maps
//
// Prints JSON: {"<runtime>": {"starts": N, "ms": [t1 - t0, ...], "start_ms": [the
// runtime's own `run --detach`, ...]}}. Every container is removed right after its start is
// measured; everything else when the runtime's sandbox goes.
#include <poll.h>
#include <sys/inotify.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "../tests/e2e/runtimes.h"
#include "../tests/integration/agent_process.h"
#include "harness.h"
#include "util/fd.h"

namespace palisade::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: bench}
spec:
  selector: {labels: {app: bench}}
  mode: enforce
  egress: []
)";

// The runtime under measurement: how a detached container is started and removed.
struct Runtime {
    std::string parentDir;  // below the tree, where the container cgroups appear
    std::string cgroupPrefix;
    std::function<RunResult()> start;
    std::function<void(const std::string& id)> remove;
};

// New lines of the agent's event file, read as inotify says it grew.
class EventTail {
  public:
    explicit EventTail(const std::string& path) : path_(path) {}
    // The container-started event whose cgroup ends with `leaf`, if one arrived.
    bool sawStarted(const std::string& leaf) {
        std::ifstream in(path_);
        in.seekg(offset_);
        std::string line;
        bool found = false;
        while (std::getline(in, line) && !in.eof()) {
            offset_ += static_cast<std::streamoff>(line.size() + 1);
            const json e = json::parse(line, nullptr, false);
            if (e.is_discarded() || e["event"]["action"] != "container-started") continue;
            found = found || e["palisade"].value("cgroup", "").ends_with("/" + leaf);
        }
        return found;
    }

  private:
    std::string path_;
    std::streamoff offset_ = 0;
};

// One start: the ms from the cgroup's appearance to the agent's event, and the runtime's
// own start time; nullopt when either did not come within 20 s.
std::optional<std::pair<double, double>> measureOne(const Runtime& rt, const Fd& notify,
                                                    EventTail& tail) {
    const auto begin = Clock::now();
    auto started = std::async(std::launch::async, [&] { return rt.start(); });
    std::optional<Clock::time_point> appeared;
    std::string leaf;
    std::optional<Clock::time_point> inForce;
    const auto deadline = begin + std::chrono::seconds(20);
    alignas(inotify_event) char buf[4096];
    while (!inForce && Clock::now() < deadline) {
        pollfd p{notify.get(), POLLIN, 0};
        poll(&p, 1, 50);
        const ssize_t n = read(notify.get(), buf, sizeof buf);
        for (ssize_t off = 0; n > 0 && off < n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
            const std::string name = ev->len ? ev->name : "";
            if (!appeared && (ev->mask & IN_CREATE) && name.starts_with(rt.cgroupPrefix) &&
                name.size() == rt.cgroupPrefix.size() + 64) {
                appeared = Clock::now();
                leaf = name;
            }
            off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
        if (appeared && tail.sawStarted(leaf)) inForce = Clock::now();
    }
    const RunResult r = started.get();
    const double runMs = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    if (r.ok()) {
        std::istringstream id(r.output);
        std::string word;
        id >> word;
        rt.remove(word);
    } else {
        std::cerr << "start failed: " << r.output << "\n";
    }
    if (!appeared || !inForce) return std::nullopt;
    return std::pair{std::chrono::duration<double, std::milli>(*inForce - *appeared).count(),
                     runMs};
}

json measure(const std::string& name, int starts) {
    Sandbox sandbox;
    char tmpl[] = "/tmp/pal-bench-image-XXXXXX";
    const std::string imageDir = mkdtemp(tmpl);
    json out;
    {
        BusyboxImage image(imageDir);
        AgentProcess agent(sandbox);
        agent.writePolicy("bench.yaml", kPolicy);
        std::unique_ptr<Dockerd> docker;
        std::unique_ptr<Podman> podman;
        Runtime rt;
        if (name == "docker") {
            docker = std::make_unique<Dockerd>(sandbox, image);
            agent.dockerRoot() = docker->dataRoot();
            rt.parentDir = sandbox.cgroups().create("docker");
            rt.start = [&] {
                return docker->docker({"run", "--detach", "--label", "app=bench",
                                       BusyboxImage::kName, "sleep", "60"});
            };
            rt.remove = [&](const std::string& id) { docker->docker({"rm", "--force", id}); };
        } else {
            podman = std::make_unique<Podman>(sandbox, image);
            agent.podmanRoot() = podman->graphRoot();
            rt.parentDir = sandbox.cgroups().create("podman");
            rt.cgroupPrefix = "libpod-";
            Container& net = sandbox.addNetwork("bench");
            rt.start = [&] {
                std::vector<std::string> args{"run", "--detach", "--label", "app=bench"};
                for (const std::string& o : podman->placement(net)) args.push_back(o);
                args.insert(args.end(), {BusyboxImage::kName, "sleep", "60"});
                return podman->podman(args);
            };
            rt.remove = [&](const std::string& id) {
                podman->podman({"rm", "--force", "--time", "0", id});
            };
        }
        agent.start();
        Fd notify(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
        inotify_add_watch(notify.get(), rt.parentDir.c_str(), IN_CREATE);
        const std::string events = agent.dir() + "/events.jsonl";
        inotify_add_watch(notify.get(), events.c_str(), IN_MODIFY);
        EventTail tail(events);
        json ms = json::array(), startMs = json::array();
        for (int i = 0; i < starts; i++) {
            if (auto one = measureOne(rt, notify, tail)) {
                ms.push_back(one->first);
                startMs.push_back(one->second);
            }
        }
        out = {{"starts", starts}, {"ms", ms}, {"start_ms", startMs}};
    }
    std::filesystem::remove_all(imageDir);
    removeCgroupV1Dirs(sandbox.cgroups().relativeToMount(sandbox.cgroups().path()));
    return out;
}

}  // namespace
}  // namespace palisade::test

int main(int argc, char** argv) {
    CLI::App app{"container start → policy in force, with real docker and podman"};
    int starts = 200;
    std::vector<std::string> runtimes{"docker", "podman"};
    app.add_option("--starts", starts, "container starts per runtime")->check(CLI::Range(1, 2000));
    app.add_option("--runtimes", runtimes, "docker and/or podman")
        ->check(CLI::IsMember({"docker", "podman"}));
    CLI11_PARSE(app, argc, argv);
    nlohmann::json out;
    for (const std::string& rt : runtimes) out[rt] = palisade::test::measure(rt, starts);
    std::cout << out.dump() << "\n";
    return 0;
}
