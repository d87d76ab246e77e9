// The sandbox: a bridge netns as the outside world plus netns + cgroup
// "containers" attached to it.
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "harness.h"
#include "harness_internal.h"

namespace palisade::test {

namespace detail {

void CleanupStack::runAll() noexcept {
    while (!actions_.empty()) {
        std::function<void()> action = std::move(actions_.back());
        actions_.pop_back();
        try {
            action();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "harness: cleanup failed: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "harness: cleanup failed\n");
        }
    }
}

}  // namespace detail

namespace {

constexpr int kMaxContainers = 200;  // 198.18.0.10 .. 198.18.0.209
std::atomic<int> sandboxCounter{0};

// 198.18.0.0/15 or fd00::/8, with an optional /len.
bool isTestAddress(const std::string& cidr) {
    const std::string addr = cidr.substr(0, cidr.find('/'));
    if (const size_t slash = cidr.find('/'); slash != std::string::npos) {
        const std::string len = cidr.substr(slash + 1);
        if (len.empty() || len.size() > 3 ||
            len.find_first_not_of("0123456789") != std::string::npos)
            return false;
    }
    unsigned char buf[16];
    if (::inet_pton(AF_INET, addr.c_str(), buf) == 1) return buf[0] == 198 && (buf[1] & 0xfe) == 18;
    if (::inet_pton(AF_INET6, addr.c_str(), buf) == 1) return buf[0] == 0xfd;
    return false;
}

void stopAll(std::vector<std::weak_ptr<detail::ServerState>>& servers) {
    for (auto& w : servers)
        if (auto s = w.lock()) s->stop();
    servers.clear();
}

}  // namespace

// ---------------------------------------------------------------------------
// Container

Container::Container(Sandbox& sandbox, int idx, const std::string& containerName, bool withCgroup)
    : sandbox_(sandbox) {
    name = containerName;
    index = idx;
    id = detail::sha256Hex(containerName + ":" + std::to_string(::getpid()) + ":" +
                           std::to_string(sandbox.seq_));
    CgroupTree& tree = sandbox.tree_;

    if (withCgroup) {
        cgroupPath = tree.create("system.slice/docker-" + id + ".scope");
        undo_.push([this] { sandbox_.tree_.remove(cgroupPath); });
        cgroupRelative = tree.relativeToMount(cgroupPath);
        cgroupId = cgroupIdOf(cgroupPath);
        sandbox.step("container-cgroup");
    }

    ns_ = std::make_unique<NetNamespace>(std::to_string(sandbox.seq_) + "-c" + std::to_string(idx));
    netns = ns_->name();
    sandbox.step("container-netns");

    const std::string& bridgeNs = sandbox.bridgeNetns();
    hostVeth = "veth" + std::to_string(idx);
    ns_->ip({"link", "add", "eth0", "type", "veth", "peer", "name", hostVeth, "netns", bridgeNs});
    undo_.push([this] {
        // Deleting one end deletes the pair; it may already be gone with the netns.
        (void)palisade::test::run({"ip", "-n", sandbox_.bridgeNetns(), "link", "del", hostVeth});
    });
    sandbox.step("container-veth");

    runChecked({"ip", "-n", bridgeNs, "link", "set", hostVeth, "master", "br0", "up"});
    ns_->ip({"link", "set", "eth0", "up"});
    sandbox.step("container-link-up");

    ip4 = "198.18.0." + std::to_string(10 + idx);
    ip6 = "fd00:18::" + std::to_string(10 + idx);
    ns_->ip({"addr", "add", ip4 + "/24", "dev", "eth0"});
    ns_->ip({"-6", "addr", "add", ip6 + "/64", "dev", "eth0", "nodad"});
    sandbox.step("container-addr");

    ns_->ip({"route", "add", "default", "via", sandbox.bridgeIp4(), "dev", "eth0"});
    ns_->ip({"-6", "route", "add", "default", "via", sandbox.bridgeIp6(), "dev", "eth0"});
    sandbox.step("container-routes");
}

Container::~Container() {
    stopServers();
    // Then undo_ (veth, cgroup: kills what is left in it), then ns_.
}

void Container::stopServers() { stopAll(servers_); }

std::string Container::nestedCgroup(const std::string& sub) {
    const std::string& root = sandbox_.tree_.path();
    return sandbox_.tree_.create(cgroupPath.substr(root.size() + 1) + "/" + sub);
}

void Container::useCgroup(const std::string& cgroupAbs) {
    if (!cgroupAbs.empty() && cgroupAbs.rfind(sandbox_.tree_.path() + "/", 0) != 0)
        throw std::invalid_argument("useCgroup: not in the test's cgroup tree: " + cgroupAbs);
    active_ = cgroupAbs;
}

const std::string& Container::activeCgroup() const {
    return active_.empty() ? cgroupPath : active_;
}

Placement Container::placement(const std::string& cgroupAbs) const {
    return Placement{netns, cgroupAbs.empty() ? activeCgroup() : cgroupAbs};
}

RunResult Container::run(const std::vector<std::string>& argv, Millis timeout) {
    return palisade::test::run(argv, timeout, placement());
}

int Container::inContainer(const std::function<int()>& fn, Millis timeout,
                           const std::string& cgroupAbs) {
    return callInInt(placement(cgroupAbs), fn, timeout);
}

std::string Container::inContainerStr(const std::function<std::string()>& fn, Millis timeout,
                                      const std::string& cgroupAbs) {
    return callIn(placement(cgroupAbs), fn, timeout);
}

int Container::connectErrno(const std::string& ip, uint16_t port, int sockType, Millis timeout) {
    return inContainer([&] { return connectErrnoHere(ip, port, sockType, timeout); },
                       timeout + Millis{10000});
}

int Container::sendtoErrno(const std::string& ip, uint16_t port, const std::string& payload) {
    return inContainer([&] { return sendtoErrnoHere(ip, port, payload); });
}

Server Container::listen(uint16_t port, int sockType, bool joinCgroup) {
    Server s = Server::start(Placement{netns, joinCgroup ? activeCgroup() : ""}, port, sockType);
    servers_.push_back(s.state());
    return s;
}

// ---------------------------------------------------------------------------
// Sandbox

namespace {

// The PID in a name "<prefix><pid>-...", when that process is gone; 0 otherwise.
pid_t deadOwner(const std::string& name, const std::string& prefix) {
    if (!name.starts_with(prefix)) return 0;
    const size_t dash = name.find('-', prefix.size());
    if (dash == std::string::npos || dash == prefix.size()) return 0;
    pid_t pid = 0;
    for (size_t i = prefix.size(); i < dash; i++) {
        if (name[i] < '0' || name[i] > '9' || pid > 4194304) return 0;
        pid = pid * 10 + (name[i] - '0');
    }
    return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH ? pid : 0;
}

// What a test run killed before its destructors ran (SIGKILL, a timeout) left: its
// network namespaces, cgroup trees and bpffs pins, named after its PID. Removed by the
// next run, once per process; what belongs to a live process is left alone.
void removeWhatDeadRunsLeft() {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/run/netns", ec)) {
        const std::string name = e.path().filename().string();
        if (deadOwner(name, "pal-")) detail::deleteNetns(name);
    }
    for (const auto& e : fs::directory_iterator(cgroup2Mount(), ec)) {
        if (deadOwner(e.path().filename().string(), "palisade-test-"))
            detail::removeCgroupSubtree(e.path().string());
    }
    // Removing a pinned link detaches its program; the pins are all a dead run held.
    for (const auto& e : fs::directory_iterator("/sys/fs/bpf", ec)) {
        if (deadOwner(e.path().filename().string(), "palisade-test-")) {
            std::error_code removeEc;
            fs::remove_all(e.path(), removeEc);
        }
    }
}

}  // namespace

Sandbox::Sandbox() : Sandbox(SandboxOptions{}) {}

Sandbox::Sandbox(SandboxOptions options) : options_(std::move(options)), seq_(sandboxCounter++) {
    static const bool swept = (removeWhatDeadRunsLeft(), true);
    (void)swept;
    // tree_ exists; if anything below throws, bridge_ and tree_ are destroyed.
    step("cgroup-tree");
    bridge_ = std::make_unique<NetNamespace>(std::to_string(seq_) + "-br");
    step("bridge-netns");
    bridge_->ip({"link", "add", "br0", "type", "bridge", "mcast_snooping", "0"});
    bridge_->ip({"link", "set", "br0", "up"});
    step("bridge-link");
    bridge_->ip({"addr", "add", bridgeIp4() + "/24", "dev", "br0"});
    bridge_->ip({"-6", "addr", "add", bridgeIp6() + "/64", "dev", "br0", "nodad"});
    step("bridge-addr");
}

Sandbox::~Sandbox() {
    stopAll(servers_);
    while (!containers_.empty()) containers_.pop_back();  // newest first
    bridge_.reset();
    // tree_: kills leftovers by PID, removes the cgroups deepest-first.
}

void Sandbox::step(const std::string& name) {
    if (options_.onStep) options_.onStep(name);
}

void Sandbox::track(const Server& server) { servers_.push_back(server.state()); }

std::vector<std::string> Sandbox::netnsNames() const {
    std::vector<std::string> out;
    if (bridge_) out.push_back(bridge_->name());
    for (const auto& c : containers_) out.push_back(c->netns);
    return out;
}

Container& Sandbox::addContainer(const std::string& name) { return add(name, true); }

Container& Sandbox::addNetwork(const std::string& name) { return add(name, false); }

Container& Sandbox::add(const std::string& name, bool withCgroup) {
    for (const auto& c : containers_)
        if (c->name == name) throw std::invalid_argument("addContainer: duplicate name " + name);
    if (nextIndex_ >= kMaxContainers)
        throw std::runtime_error("addContainer: at most " + std::to_string(kMaxContainers));
    const int idx = nextIndex_++;
    containers_.push_back(std::unique_ptr<Container>(new Container(*this, idx, name, withCgroup)));
    return *containers_.back();
}

Container& Sandbox::container(const std::string& name) {
    for (const auto& c : containers_)
        if (c->name == name) return *c;
    throw std::invalid_argument("no container named " + name);
}

void Sandbox::removeContainer(const std::string& name) {
    for (auto it = containers_.begin(); it != containers_.end(); ++it) {
        if ((*it)->name == name) {
            containers_.erase(it);
            return;
        }
    }
    throw std::invalid_argument("no container named " + name);
}

void Sandbox::addExternalAddress(const std::string& cidr) {
    if (!isTestAddress(cidr))
        throw std::invalid_argument("addExternalAddress: only 198.18.0.0/15 and fd00::/8: " + cidr);
    // On br0, not lo: IPv6 neighbour discovery only answers for addresses of
    // the interface the solicitation came in on, so an on-link address
    // (fd00:18::/64) on lo would be unreachable from the containers.
    if (cidr.find(':') != std::string::npos)
        bridge_->ip({"-6", "addr", "add", cidr, "dev", "br0", "nodad"});
    else
        bridge_->ip({"addr", "add", cidr, "dev", "br0"});
}

RunResult Sandbox::runOnBridge(const std::vector<std::string>& argv, Millis timeout) {
    return bridge_->run(argv, timeout);
}

int Sandbox::inBridge(const std::function<int()>& fn, Millis timeout) {
    return bridge_->call(fn, timeout);
}

Server Sandbox::listenOnBridge(uint16_t port, int sockType) {
    Server s = Server::start(Placement{bridge_->name(), ""}, port, sockType);
    track(s);
    return s;
}

}  // namespace palisade::test
