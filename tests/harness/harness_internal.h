// Internal helpers of the harness (not for tests).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "harness.h"
#include "util/errno_text.h"
#include "util/fd.h"
#include "util/sha256.h"

namespace palisade::test::detail {

// The agent's own kit (agent/util): one Fd, one errno text, one SHA-256.
using ::palisade::errnoText;
using ::palisade::Fd;
using ::palisade::sha256Hex;

// A close-on-exec pipe: [0] read end, [1] write end.
struct Pipe {
    Fd read;
    Fd write;
};
Pipe makePipe();

[[noreturn]] void throwErrno(const std::string& what);
std::string joinArgv(const std::vector<std::string>& argv);

// Whole-file read / write; false on failure (errno set).
bool readFile(const std::string& path, std::string& out);
bool writeFile(const std::string& path, const std::string& data);
// write() everything (EINTR-safe); false on failure.
bool writeAll(int fd, const void* data, size_t len);

// Flushes stdio, forks; in the child sets PR_SET_PDEATHSIG=SIGKILL (and exits
// if the parent is already gone). Throws on fork failure.
pid_t forkChild();

// In a child: joins where.cgroup (writes its pid to cgroup.procs), then
// where.netns. Returns "" or what failed.
std::string enterPlacement(const Placement& where);

// The result of watching a child: what it wrote to `fd` until EOF, whether it
// exited (status) and whether the deadline passed first (then the child has
// been killed by PID and reaped).
struct Collected {
    std::string data;
    int status = 0;
    bool timedOut = false;
};
Collected collectChild(pid_t pid, int fd, std::chrono::steady_clock::time_point deadline,
                       size_t cap);

// Kills (by PID) what is left in the cgroup `dir` and below, then removes
// the directories deepest-first. false if something stayed.
bool removeCgroupSubtree(const std::string& dir, int depth = 0);

// `ip netns del <name>` without throwing; false (and a note on stderr) on failure.
bool deleteNetns(const std::string& name);

// Exit code of a wait status: the code, or 128 + signal.
int exitCodeOf(int status);

// Shared between a Server handle (and the Sandbox/Container tracking it) and
// its child process.
struct ServerShared {
    std::atomic<int> accepted{0};
    std::atomic<int> received{0};
    std::atomic<uint64_t> bytes{0};
    char lastPeer[64]{};
};

struct ServerState {
    pid_t pid = -1;
    uint16_t port = 0;
    int sockType = 0;
    ServerShared* shared = nullptr;  // MAP_SHARED anonymous page
    ~ServerState();
    void stop();
};

}  // namespace palisade::test::detail
