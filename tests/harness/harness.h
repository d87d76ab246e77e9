// Integration-test harness: disposable "containers" built from a cgroup v2
// subtree and network namespaces, for tests that run as root on a real kernel.
// Kept for GoogleTest; bench/sandbox.py is its Python counterpart used by the
// bench and the demo; see bench/README.md.
//
// The world a test gets from a Sandbox:
//
//   <cgroup2 mount>/palisade-test-<pid>-<n>/            CgroupTree (RAII)
//       system.slice/docker-<64 hex>.scope/[nested]     one per Container
//
//   netns pal-<pid>-<n>-br   "the outside world": bridge br0 with
//                            198.18.0.1/24 and fd00:18::1/64 (+ addExternalAddress)
//   netns pal-<pid>-<n>-c<i> one per Container: lo, eth0 = 198.18.0.(10+i)/24
//                            and fd00:18::(10+i)/64, default routes via br0;
//                            the veth peer `veth<i>` is a port of br0.
//
// Every address is in 198.18.0.0/15 or fd00::/8, IPv6 DAD is off in every
// namespace (addresses are usable at once), nothing is ever configured in the
// test process's own network namespace or outside the test's cgroup subtree.
//
// A process "in a container" is a child that first writes its pid to the
// container's cgroup.procs (so sockets it creates belong to that cgroup and the
// cgroup BPF hooks see it), then setns()es into the container's netns, then
// runs a command (Container::run) or a function (Container::inContainer).
//
// Teardown is RAII and happens even when a test fails or throws half-way
// through the setup: servers are killed by PID and reaped, processes left in
// the test's cgroups are killed by PID, veths and namespaces are deleted, and
// the cgroup directories are removed deepest-first (retrying briefly while
// they still hold exiting processes). A run killed before its destructors ran
// (SIGKILL, a timeout) cannot: the first Sandbox of the next run removes the
// namespaces, cgroup trees and /sys/fs/bpf/palisade-test-<pid>-* pins named after
// a PID that no longer exists. Every wait in here is bounded.
//
// Children get PR_SET_PDEATHSIG=SIGKILL, so a crashed test leaves no process
// behind (a SIGKILLed test does leave its pal-<pid>-* namespaces and
// palisade-test-<pid>-* cgroups: remove those by hand).
//
// Errors in the harness itself (a failing `ip` command, a cgroup that cannot
// be created, a child that cannot join its namespace) throw std::runtime_error
// with the command and its output; GoogleTest reports them as test failures.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace palisade::test {

using Millis = std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Environment

// The cgroup v2 mount point, from /proc/self/mountinfo (first mount whose
// filesystem type, the field after " - ", is "cgroup2"). Throws if none.
std::string cgroup2Mount();

// True when the effective uid is 0.
bool isRoot();

// Why the harness cannot run here ("" when it can): not root, no cgroup2
// mount, no `ip` binary.
std::string environmentProblem();

// In a test body: skip (with the reason) unless the harness can run.
#define PALISADE_REQUIRE_ROOT()                                                             \
    do {                                                                                    \
        if (const std::string palisadeSkipReason_ = ::palisade::test::environmentProblem(); \
            !palisadeSkipReason_.empty())                                                   \
            GTEST_SKIP() << palisadeSkipReason_;                                            \
    } while (0)

// Names under /run/netns that start with `prefix` (e.g. "pal-<pid>-").
std::vector<std::string> netnsWithPrefix(const std::string& prefix);

// ---------------------------------------------------------------------------
// Running things in other namespaces / cgroups

// Where a child process goes before it runs: the cgroup directory (absolute
// path) is joined first, then the named netns (/run/netns/<netns>). Empty
// fields: stay where the test process is.
struct Placement {
    std::string netns;
    std::string cgroup;
};

struct RunResult {
    int exitCode = -1;      // exit status; 128+signal if killed; 126/127 if exec failed
    std::string output;     // stdout and stderr, interleaved as written
    bool timedOut = false;  // killed (SIGKILL, by PID) at the timeout
    int execErrno = 0;      // errno of a failed execvp (e.g. EPERM from an exec policy)
    bool ok() const { return exitCode == 0 && !timedOut; }
};

// fork + (join Placement) + execvp(argv). stdin is /dev/null. Throws only if
// the child cannot join its cgroup / netns; a failed exec is a RunResult.
RunResult run(const std::vector<std::string>& argv, Millis timeout = Millis{10000},
              const Placement& where = {});

// run() that throws std::runtime_error (command + output) unless it exits 0.
// Returns the output.
std::string runChecked(const std::vector<std::string>& argv, const Placement& where = {},
                       Millis timeout = Millis{10000});

// fork + (join Placement) + fn() in the child; returns what fn returned. Throws
// std::runtime_error if the child cannot be placed, fn throws, the child dies
// without an answer, or the timeout passes (the child is then killed by PID).
// fn runs in a forked copy of the test: GoogleTest assertions in it are lost
// (return a value and assert on it in the test), and it must not wait for
// the parent.
std::string callIn(const Placement& where, const std::function<std::string()>& fn,
                   Millis timeout = Millis{10000});
int callInInt(const Placement& where, const std::function<int()>& fn,
              Millis timeout = Millis{10000});

// A socket address from "198.18.0.1", "fd00:18::1", "::ffff:198.18.0.1" or
// "fe80::1%eth0" (the scope is resolved in the calling process's netns).
// IPv4 text gives AF_INET; anything with ':' (v4-mapped too) gives AF_INET6.
// Throws std::invalid_argument on a malformed address.
struct SockAddr {
    sockaddr_storage storage{};
    socklen_t len = 0;
    int family = AF_UNSPEC;
    bool v4mapped = false;
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
SockAddr parseSockAddr(const std::string& ip, uint16_t port);

// Socket probes for use *inside* a callIn/inContainer child (they act in the
// caller's namespaces and cgroup). Return 0 or the errno.
// connect: SOCK_STREAM is a non-blocking connect + poll (ETIMEDOUT when the
// timeout passes); SOCK_DGRAM is a plain connect(). The socket is then closed.
int connectErrnoHere(const std::string& ip, uint16_t port, int sockType = SOCK_STREAM,
                     Millis timeout = Millis{3000});
// An unconnected UDP sendto of `payload`.
int sendtoErrnoHere(const std::string& ip, uint16_t port, const std::string& payload = "x");

// ---------------------------------------------------------------------------
// Servers

namespace detail {
struct ServerState;

// Actions run in reverse order by the destructor (or runAll); exceptions
// they throw are reported on stderr and swallowed.
class CleanupStack {
  public:
    CleanupStack() = default;
    ~CleanupStack() { runAll(); }
    CleanupStack(const CleanupStack&) = delete;
    CleanupStack& operator=(const CleanupStack&) = delete;
    void push(std::function<void()> action) { actions_.push_back(std::move(action)); }
    void runAll() noexcept;

  private:
    std::vector<std::function<void()>> actions_;
};
}  // namespace detail

// A TCP or UDP listener in a child process (see Server::start). TCP: accepts
// and immediately closes connections, counting them. UDP: receives
// datagrams, counting them, and echoes each back to its sender. The loop is
// bounded (lifetime, event count) and the child dies with the test process.
// RAII: the destructor kills the child by PID and reaps it. Movable.
struct ServerOptions {
    std::string bindAddress;                   // "" = [::] dual-stack (0.0.0.0 if no IPv6)
    Millis lifetime = Millis{10 * 60 * 1000};  // the child exits after this
};

class Server {
  public:
    using Options = ServerOptions;

    // Starts a listener placed by `where` on `port` (0 = ephemeral) and waits
    // until it is bound. Throws std::runtime_error if it cannot bind.
    static Server start(const Placement& where, uint16_t port, int sockType,
                        const ServerOptions& options = ServerOptions());

    Server(Server&&) noexcept;
    Server& operator=(Server&&) noexcept;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();

    uint16_t port() const;  // the bound port (useful with port 0)
    int sockType() const;
    pid_t pid() const;                                    // -1 once stopped
    bool waitReady(Millis timeout = Millis{5000}) const;  // true: bound and serving

    int accepted() const;    // TCP connections accepted so far
    int received() const;    // UDP datagrams received so far
    int count() const;       // accepted() for TCP, received() for UDP
    uint64_t bytes() const;  // UDP payload bytes received
    // Polls count() until it reaches n (true) or the timeout passes (false).
    bool waitForCount(int n, Millis timeout = Millis{3000}) const;
    std::string lastPeer() const;  // source address of the last connection / datagram

    void stop();  // kill by PID + reap; idempotent

    const std::shared_ptr<detail::ServerState>& state() const { return state_; }

  private:
    explicit Server(std::shared_ptr<detail::ServerState> state);
    std::shared_ptr<detail::ServerState> state_;
};

// ---------------------------------------------------------------------------
// Cgroups

// The cgroup id of a cgroup v2 directory (what bpf_get_current_cgroup_id()
// returns): the kernfs file handle from name_to_handle_at, else its inode.
uint64_t cgroupIdOf(const std::string& path);

// The pids listed in <path>/cgroup.procs (empty if unreadable).
std::vector<pid_t> cgroupProcs(const std::string& path);

// RAII: <cgroup2 mount>/palisade-test-<pid>-<n> and everything under it.
class CgroupTree {
  public:
    CgroupTree();
    ~CgroupTree();  // kills leftover processes by PID, removes all dirs deepest-first
    CgroupTree(const CgroupTree&) = delete;
    CgroupTree& operator=(const CgroupTree&) = delete;

    const std::string& path() const { return path_; }    // absolute
    const std::string& mount() const { return mount_; }  // the cgroup2 mount
    uint64_t id() const;

    // mkdir -p `relative` (e.g. "system.slice/docker-<id>.scope") under the
    // tree; returns the absolute path. Rejects absolute paths and "..".
    std::string create(const std::string& relative);
    static uint64_t idOf(const std::string& path) { return cgroupIdOf(path); }

    // `abs` relative to the cgroup2 mount, with a leading '/', as shown in
    // /proc/<pid>/cgroup ("0::/palisade-test-1-0/system.slice/...").
    std::string relativeToMount(const std::string& abs) const;

    // Kills (by PID) the processes in `abs` and its descendants, then removes
    // them deepest-first. `abs` must be inside the tree. Returns false if
    // something could not be removed in time.
    bool remove(const std::string& abs);

  private:
    std::string mount_;
    std::string path_;
};

// ---------------------------------------------------------------------------
// Network namespaces

// RAII: `ip netns add pal-<pid>-<suffix>` with lo up and IPv6 DAD disabled;
// the destructor deletes it.
class NetNamespace {
  public:
    explicit NetNamespace(const std::string& suffix);
    ~NetNamespace();
    NetNamespace(const NetNamespace&) = delete;
    NetNamespace& operator=(const NetNamespace&) = delete;

    const std::string& name() const { return name_; }
    // `ip -n <name> <args...>`, throwing on failure; returns the output.
    std::string ip(const std::vector<std::string>& args) const;
    RunResult run(const std::vector<std::string>& argv, Millis timeout = Millis{10000}) const;
    int call(const std::function<int()>& fn, Millis timeout = Millis{10000}) const;

  private:
    std::string name_;
};

// ---------------------------------------------------------------------------
// Containers and the sandbox

class Sandbox;

// One "container": a docker-style cgroup plus its own netns on the bridge.
// Owned by its Sandbox (references stay valid until removeContainer / the
// Sandbox is destroyed). Data members are informational: don't modify them.
struct Container {
    std::string name;
    std::string id;              // 64 hex: sha256(name:pid:sandbox seq)
    std::string cgroupPath;      // absolute: .../system.slice/docker-<id>.scope
    std::string cgroupRelative;  // relative to the cgroup2 mount, leading '/'
    uint64_t cgroupId = 0;
    std::string netns;     // pal-<pid>-<n>-c<index>
    std::string ip4;       // 198.18.0.(10+index)
    std::string ip6;       // fd00:18::(10+index)
    std::string hostVeth;  // the bridge-side veth, in the bridge netns
    int index = 0;

    ~Container();
    Container(const Container&) = delete;
    Container& operator=(const Container&) = delete;

    // mkdir <cgroupPath>/<sub> (may be nested: "a/b"); returns the absolute path.
    std::string nestedCgroup(const std::string& sub);
    // Make run/inContainer/connectErrno/sendtoErrno/listen(joinCgroup) use
    // `cgroupAbs` (e.g. a nestedCgroup()); "" = back to cgroupPath.
    void useCgroup(const std::string& cgroupAbs);
    const std::string& activeCgroup() const;
    // The container's netns + the active cgroup (or `cgroupAbs` if given).
    Placement placement(const std::string& cgroupAbs = "") const;

    // argv run in the container (joins the cgroup, then the netns).
    RunResult run(const std::vector<std::string>& argv, Millis timeout = Millis{10000});
    // fn run in a child in the container (optionally in another cgroup);
    // returns fn's result. See callIn for the failure modes.
    int inContainer(const std::function<int()>& fn, Millis timeout = Millis{10000},
                    const std::string& cgroupAbs = "");
    std::string inContainerStr(const std::function<std::string()>& fn,
                               Millis timeout = Millis{10000}, const std::string& cgroupAbs = "");

    // From inside the container: 0 or errno (EPERM = denied by a policy,
    // ECONNREFUSED, ETIMEDOUT, ...). See connectErrnoHere / sendtoErrnoHere.
    int connectErrno(const std::string& ip, uint16_t port, int sockType = SOCK_STREAM,
                     Millis timeout = Millis{3000});
    int sendtoErrno(const std::string& ip, uint16_t port, const std::string& payload = "x");

    // A listener in the container's netns; in no cgroup of ours unless
    // joinCgroup (then the active cgroup). Killed with the container at the
    // latest.
    Server listen(uint16_t port, int sockType = SOCK_STREAM, bool joinCgroup = false);

  private:
    friend class Sandbox;
    Container(Sandbox& sandbox, int idx, const std::string& containerName, bool withCgroup);
    void stopServers();

    Sandbox& sandbox_;
    std::string active_;
    std::vector<std::weak_ptr<detail::ServerState>> servers_;
    std::unique_ptr<NetNamespace> ns_;
    detail::CleanupStack undo_;  // declared after ns_: runs before the netns goes
};

struct SandboxOptions {
    // Test hook: called after each setup step ("cgroup-tree", "bridge-netns",
    // "bridge-link", "bridge-addr", "container-cgroup", "container-netns",
    // "container-veth", "container-link-up", "container-addr",
    // "container-routes"); it may throw to simulate a failure there.
    std::function<void(const std::string& step)> onStep;
};

// RAII: the whole test world (see the top of this file).
class Sandbox {
  public:
    Sandbox();
    explicit Sandbox(SandboxOptions options);
    ~Sandbox();  // servers, containers (reverse order), bridge netns, cgroups
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    CgroupTree& cgroups() { return tree_; }
    int sequence() const { return seq_; }
    const std::string& bridgeNetns() const { return bridge_->name(); }
    std::string bridgeIp4() const { return "198.18.0.1"; }
    std::string bridgeIp6() const { return "fd00:18::1"; }
    // Every netns name the sandbox owns right now (bridge first).
    std::vector<std::string> netnsNames() const;

    // Creates a container (see Container). Throws on failure, leaving nothing
    // of the half-made container behind. At most 200 per sandbox.
    Container& addContainer(const std::string& name);
    // Its network alone (netns, veth, addresses, routes; cgroupPath empty), for
    // a real container runtime to join (`--network ns:/run/netns/<netns>`).
    Container& addNetwork(const std::string& name);
    Container& container(const std::string& name);  // throws if unknown
    const std::vector<std::unique_ptr<Container>>& containers() const { return containers_; }
    // Tears one container down now (servers, processes, veth, netns, cgroup).
    void removeContainer(const std::string& name);

    // One more address for the "outside world" (on the bridge netns's br0),
    // e.g. "198.19.1.1/32", "198.18.0.200/32" or "fd00:19::1/128"; containers
    // reach it through their default routes (or on-link, inside 198.18.0.0/24
    // and fd00:18::/64: avoid .10-.209 / ::10-::209, the containers'). Use
    // host prefixes (/32, /128). Only 198.18.0.0/15 and fd00::/8 are accepted.
    void addExternalAddress(const std::string& cidr);

    // Commands, functions and listeners in the bridge netns (no cgroup).
    RunResult runOnBridge(const std::vector<std::string>& argv, Millis timeout = Millis{10000});
    int inBridge(const std::function<int()>& fn, Millis timeout = Millis{10000});
    Server listenOnBridge(uint16_t port, int sockType = SOCK_STREAM);

  private:
    friend struct Container;
    Container& add(const std::string& name, bool withCgroup);
    void step(const std::string& name);
    void track(const Server& server);

    SandboxOptions options_;
    int seq_;
    CgroupTree tree_;
    std::unique_ptr<NetNamespace> bridge_;
    std::vector<std::unique_ptr<Container>> containers_;
    std::vector<std::weak_ptr<detail::ServerState>> servers_;
    int nextIndex_ = 0;
};

}  // namespace palisade::test
