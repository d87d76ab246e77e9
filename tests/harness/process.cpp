// Child processes: commands and functions run in a netns / cgroup, socket
// probes, and listener servers.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <thread>

#include "harness.h"
#include "harness_internal.h"

namespace palisade::test {

using Clock = std::chrono::steady_clock;

namespace detail {

pid_t forkChild() {
    std::fflush(nullptr);  // or the child would flush the parent's buffered output again
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throwErrno("fork");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
    }
    return pid;
}

std::string enterPlacement(const Placement& where) {
    if (!where.cgroup.empty()) {
        const std::string procs = where.cgroup + "/cgroup.procs";
        if (!writeFile(procs, std::to_string(::getpid()))) {
            const int err = errno;
            return "join cgroup " + procs + ": " + errnoText(err);
        }
    }
    if (!where.netns.empty()) {
        const std::string path = "/run/netns/" + where.netns;
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) {
            const int err = errno;
            return "open " + path + ": " + errnoText(err);
        }
        if (::setns(fd.get(), CLONE_NEWNET) != 0) {
            const int err = errno;
            return "setns " + path + ": " + errnoText(err);
        }
    }
    return "";
}

int exitCodeOf(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

Collected collectChild(pid_t pid, int fd, Clock::time_point deadline, size_t cap) {
    // Grace for the output of a child that has exited while something it
    // started still holds the pipe open.
    constexpr auto kGrace = Millis{200};
    Collected c;
    bool eof = false;
    bool exited = false;
    Clock::time_point exitedAt{};
    char buf[65536];
    for (;;) {
        if (!exited) {
            int st = 0;
            const pid_t r = ::waitpid(pid, &st, WNOHANG);
            if (r == pid) {
                exited = true;
                c.status = st;
                exitedAt = Clock::now();
            }
        }
        if (eof && exited) break;
        const auto now = Clock::now();
        if (exited && now - exitedAt > kGrace) break;
        if (now >= deadline) {
            c.timedOut = true;
            break;
        }
        if (eof) {
            std::this_thread::sleep_for(Millis{1});
            continue;
        }
        const auto left = std::chrono::duration_cast<Millis>(deadline - now).count();
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left, 1, 20)));
        if (r <= 0) continue;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) {
            eof = true;
        } else if (n > 0) {
            if (c.data.size() < cap)
                c.data.append(buf, std::min(static_cast<size_t>(n), cap - c.data.size()));
        } else if (errno != EINTR && errno != EAGAIN) {
            eof = true;
        }
    }
    if (!exited) {
        ::kill(pid, SIGKILL);  // our own child, by PID
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        c.status = st;
    }
    return c;
}

ServerState::~ServerState() {
    stop();
    if (shared) {
        shared->~ServerShared();
        ::munmap(shared, sizeof(ServerShared));
    }
}

void ServerState::stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);  // our own child, not yet reaped, so the PID is still ours
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
}

}  // namespace detail

using detail::Fd;

// ---------------------------------------------------------------------------
// Commands

RunResult run(const std::vector<std::string>& argv, Millis timeout, const Placement& where) {
    if (argv.empty()) throw std::invalid_argument("run: empty argv");
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);

    const auto deadline = Clock::now() + timeout;
    detail::Pipe out = detail::makePipe();
    detail::Pipe status = detail::makePipe();  // close-on-exec: EOF once exec succeeded
    const pid_t pid = detail::forkChild();
    if (pid == 0) {
        std::string err = detail::enterPlacement(where);
        char tag = 'S';
        int execErr = 0;
        if (err.empty()) {
            Fd devnull(::open("/dev/null", O_RDONLY));
            if (devnull) ::dup2(devnull.get(), 0);
            ::dup2(out.write.get(), 1);
            ::dup2(out.write.get(), 2);
            ::execvp(cargv[0], cargv.data());
            execErr = errno;
            tag = 'X';
            err = "execvp " + argv[0] + ": " + detail::errnoText(execErr);
        }
        std::string msg(1, tag);
        msg.append(reinterpret_cast<const char*>(&execErr), sizeof execErr);
        msg += err;
        detail::writeAll(status.write.get(), msg.data(), msg.size());
        ::_exit(execErr == ENOENT ? 127 : 126);
    }
    out.write.reset();
    status.write.reset();

    detail::Collected c = detail::collectChild(pid, out.read.get(), deadline, 4u << 20);
    // The child is gone: the status pipe holds its whole message, if any.
    std::string msg;
    char buf[4096];
    for (int i = 0; i < 64; ++i) {
        const ssize_t n = ::read(status.read.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        msg.append(buf, static_cast<size_t>(n));
    }

    RunResult r;
    r.output = std::move(c.data);
    r.timedOut = c.timedOut;
    r.exitCode = detail::exitCodeOf(c.status);
    if (msg.size() > sizeof(int)) {
        if (msg[0] == 'S')
            throw std::runtime_error("run `" + detail::joinArgv(argv) +
                                     "`: " + msg.substr(1 + sizeof(int)));
        std::memcpy(&r.execErrno, msg.data() + 1, sizeof(int));
        r.output += "harness: " + msg.substr(1 + sizeof(int)) + "\n";
    }
    return r;
}

std::string runChecked(const std::vector<std::string>& argv, const Placement& where,
                       Millis timeout) {
    RunResult r = run(argv, timeout, where);
    if (!r.ok()) {
        std::string where_;
        if (!where.netns.empty()) where_ += " in netns " + where.netns;
        if (!where.cgroup.empty()) where_ += " in cgroup " + where.cgroup;
        throw std::runtime_error(
            "`" + detail::joinArgv(argv) + "`" + where_ +
            (r.timedOut ? " timed out" : " exited " + std::to_string(r.exitCode)) + ": " +
            r.output);
    }
    return r.output;
}

// ---------------------------------------------------------------------------
// Functions

std::string callIn(const Placement& where, const std::function<std::string()>& fn, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    detail::Pipe result = detail::makePipe();
    const pid_t pid = detail::forkChild();
    if (pid == 0) {
        result.read.reset();
        std::string msg;
        std::string err = detail::enterPlacement(where);
        if (!err.empty()) {
            msg = "E" + err;
        } else {
            try {
                msg = "R" + fn();
            } catch (const std::exception& e) {
                msg = std::string("Efunction threw: ") + e.what();
            } catch (...) {
                msg = "Efunction threw a non-std exception";
            }
        }
        detail::writeAll(result.write.get(), msg.data(), msg.size());
        std::fflush(nullptr);
        ::_exit(0);
    }
    result.write.reset();
    detail::Collected c = detail::collectChild(pid, result.read.get(), deadline, 16u << 20);
    const std::string where_ = " (netns '" + where.netns + "', cgroup '" + where.cgroup + "')";
    if (c.timedOut)
        throw std::runtime_error("callIn: no answer within " + std::to_string(timeout.count()) +
                                 " ms" + where_);
    if (c.data.empty())
        throw std::runtime_error("callIn: child died without an answer, exit code " +
                                 std::to_string(detail::exitCodeOf(c.status)) + where_);
    if (c.data[0] != 'R') throw std::runtime_error("callIn: " + c.data.substr(1) + where_);
    return c.data.substr(1);
}

int callInInt(const Placement& where, const std::function<int()>& fn, Millis timeout) {
    const std::string s = callIn(
        where, [&fn] { return std::to_string(fn()); }, timeout);
    return std::stoi(s);
}

// ---------------------------------------------------------------------------
// Sockets

SockAddr parseSockAddr(const std::string& ip, uint16_t port) {
    SockAddr a;
    if (ip.find(':') == std::string::npos) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (::inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) != 1)
            throw std::invalid_argument("not an IPv4 address: '" + ip + "'");
        a.len = sizeof(sockaddr_in);
        a.family = AF_INET;
        return a;
    }
    std::string host = ip;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::string scope;
    if (const size_t pct = host.find('%'); pct != std::string::npos) {
        scope = host.substr(pct + 1);
        host = host.substr(0, pct);
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (::inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1)
        throw std::invalid_argument("not an IPv6 address: '" + ip + "'");
    if (!scope.empty()) {
        unsigned idx = ::if_nametoindex(scope.c_str());
        if (idx == 0 && !scope.empty() && std::all_of(scope.begin(), scope.end(), ::isdigit))
            idx = static_cast<unsigned>(std::stoul(scope));
        if (idx == 0) throw std::invalid_argument("unknown scope in '" + ip + "'");
        sin6->sin6_scope_id = idx;
    }
    a.len = sizeof(sockaddr_in6);
    a.family = AF_INET6;
    a.v4mapped = IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr);
    return a;
}

int connectErrnoHere(const std::string& ip, uint16_t port, int sockType, Millis timeout) {
    const SockAddr a = parseSockAddr(ip, port);
    const bool stream = sockType == SOCK_STREAM;
    Fd fd(::socket(a.family, sockType | SOCK_CLOEXEC | (stream ? SOCK_NONBLOCK : 0), 0));
    if (fd.get() < 0) return errno;
    if (a.v4mapped) {
        int off = 0;
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (::connect(fd.get(), a.get(), a.len) == 0) return 0;
    const int err = errno;
    if (!stream || err != EINPROGRESS) return err;
    pollfd p{fd.get(), POLLOUT, 0};
    int r = 0;
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 1000; ++i) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) break;
        r = ::poll(&p, 1, static_cast<int>(left));
        if (r >= 0 || errno != EINTR) break;
    }
    if (r < 0) return errno;
    if (r == 0) return ETIMEDOUT;
    int soErr = 0;
    socklen_t len = sizeof soErr;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soErr, &len) != 0) return errno;
    return soErr;
}

int sendtoErrnoHere(const std::string& ip, uint16_t port, const std::string& payload) {
    const SockAddr a = parseSockAddr(ip, port);
    Fd fd(::socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return errno;
    if (a.v4mapped) {
        int off = 0;
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (::sendto(fd.get(), payload.data(), payload.size(), 0, a.get(), a.len) < 0) return errno;
    return 0;
}

// ---------------------------------------------------------------------------
// Servers

namespace {

std::string peerText(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))  // shown as plain IPv4
            ::inet_ntop(AF_INET, &sin6.sin6_addr.s6_addr[12], buf, sizeof buf);
        else
            ::inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf);
    }
    return buf;
}

void recordPeer(detail::ServerShared* shared, const sockaddr_storage& ss) {
    const std::string text = peerText(ss);
    std::snprintf(shared->lastPeer, sizeof shared->lastPeer, "%s", text.c_str());
}

// The server child: bind, report 'R'+port (or 'E'+why) on readyFd, serve.
int serve(const Placement& where, uint16_t port, int sockType, const Server::Options& options,
          Fd readyFd, detail::ServerShared* shared, pid_t parent) {
    auto fail = [&readyFd](const std::string& why) {
        const std::string msg = "E" + why;
        detail::writeAll(readyFd.get(), msg.data(), msg.size());
        return 1;
    };
    if (std::string err = detail::enterPlacement(where); !err.empty()) return fail(err);

    SockAddr a;
    try {
        a = parseSockAddr(options.bindAddress.empty() ? "::" : options.bindAddress, port);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    Fd fd(::socket(a.family, sockType | SOCK_CLOEXEC, 0));
    if (fd.get() < 0 && errno == EAFNOSUPPORT && options.bindAddress.empty()) {
        a = parseSockAddr("0.0.0.0", port);
        fd = Fd(::socket(a.family, sockType | SOCK_CLOEXEC, 0));
    }
    if (fd.get() < 0) return fail("socket: " + detail::errnoText(errno));
    const int one = 1;
    const int zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd.get(), a.get(), a.len) != 0) return fail("bind: " + detail::errnoText(errno));
    if (sockType == SOCK_STREAM && ::listen(fd.get(), 128) != 0)
        return fail("listen: " + detail::errnoText(errno));
    sockaddr_storage bound{};
    socklen_t boundLen = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &boundLen);
    const uint16_t boundPort =
        ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(bound).sin_port
                                         : reinterpret_cast<sockaddr_in6&>(bound).sin6_port);
    char ready[3] = {'R', static_cast<char>(boundPort >> 8), static_cast<char>(boundPort & 0xff)};
    detail::writeAll(readyFd.get(), ready, sizeof ready);
    readyFd.reset();

    static char buf[65536];
    const auto deadline = Clock::now() + options.lifetime;
    for (long events = 0; events < 1000000 && Clock::now() < deadline;) {
        if (::getppid() != parent) break;
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        ++events;
        sockaddr_storage peer{};
        socklen_t peerLen = sizeof peer;
        if (sockType == SOCK_STREAM) {
            const Fd c(::accept4(fd.get(), reinterpret_cast<sockaddr*>(&peer), &peerLen,
                                 SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (!c) continue;
            recordPeer(shared, peer);
            shared->accepted.fetch_add(1, std::memory_order_release);
        } else {
            const ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, MSG_DONTWAIT,
                                         reinterpret_cast<sockaddr*>(&peer), &peerLen);
            if (n < 0) continue;
            recordPeer(shared, peer);
            shared->bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
            shared->received.fetch_add(1, std::memory_order_release);
            ::sendto(fd.get(), buf, static_cast<size_t>(n), MSG_DONTWAIT,
                     reinterpret_cast<sockaddr*>(&peer), peerLen);
        }
    }
    return 0;
}

}  // namespace

Server Server::start(const Placement& where, uint16_t port, int sockType, const Options& options) {
    if (sockType != SOCK_STREAM && sockType != SOCK_DGRAM)
        throw std::invalid_argument("Server: sockType must be SOCK_STREAM or SOCK_DGRAM");
    auto state = std::make_shared<detail::ServerState>();
    void* mem = ::mmap(nullptr, sizeof(detail::ServerShared), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) detail::throwErrno("mmap");
    state->shared = new (mem) detail::ServerShared();
    state->sockType = sockType;

    detail::Pipe ready = detail::makePipe();
    const pid_t parent = ::getpid();
    const pid_t pid = detail::forkChild();
    if (pid == 0) {
        ready.read.reset();
        const int rc =
            serve(where, port, sockType, options, std::move(ready.write), state->shared, parent);
        ::_exit(rc);
    }
    state->pid = pid;
    ready.write.reset();

    // Wait for the ready message (the child closes the pipe after it).
    std::string msg;
    const auto deadline = Clock::now() + Millis{5000};
    char buf[512];
    for (int i = 0; i < 10000 && Clock::now() < deadline; ++i) {
        pollfd p{ready.read.get(), POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const ssize_t n = ::read(ready.read.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        msg.append(buf, static_cast<size_t>(n));
        if (msg[0] == 'R' && msg.size() >= 3) break;
    }
    const std::string what = std::string(sockType == SOCK_STREAM ? "TCP" : "UDP") +
                             " server on port " + std::to_string(port) + " in netns '" +
                             where.netns + "'";
    if (msg.empty() || msg[0] != 'R' || msg.size() < 3) {
        state->stop();
        throw std::runtime_error(
            "Server: " + what + ": " +
            (msg.size() > 1 ? msg.substr(1) : std::string("not ready in 5 s")));
    }
    state->port = static_cast<uint16_t>((static_cast<unsigned char>(msg[1]) << 8) |
                                        static_cast<unsigned char>(msg[2]));
    return Server(std::move(state));
}

Server::Server(std::shared_ptr<detail::ServerState> state) : state_(std::move(state)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&& other) noexcept {
    if (this != &other) {
        stop();
        state_ = std::move(other.state_);
    }
    return *this;
}
Server::~Server() { stop(); }

uint16_t Server::port() const { return state_ ? state_->port : 0; }
int Server::sockType() const { return state_ ? state_->sockType : 0; }
pid_t Server::pid() const { return state_ ? state_->pid : -1; }
bool Server::waitReady(Millis) const { return state_ && state_->pid > 0; }

int Server::accepted() const {
    return state_ ? state_->shared->accepted.load(std::memory_order_acquire) : 0;
}
int Server::received() const {
    return state_ ? state_->shared->received.load(std::memory_order_acquire) : 0;
}
int Server::count() const { return sockType() == SOCK_STREAM ? accepted() : received(); }
uint64_t Server::bytes() const {
    return state_ ? state_->shared->bytes.load(std::memory_order_relaxed) : 0;
}

bool Server::waitForCount(int n, Millis timeout) const {
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 100000; ++i) {
        if (count() >= n) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(Millis{5});
    }
    return count() >= n;
}

std::string Server::lastPeer() const {
    if (!state_) return "";
    (void)state_->shared->accepted.load(std::memory_order_acquire);
    (void)state_->shared->received.load(std::memory_order_acquire);
    return std::string(state_->shared->lastPeer,
                       ::strnlen(state_->shared->lastPeer, sizeof state_->shared->lastPeer));
}

void Server::stop() {
    if (state_) state_->stop();
}

}  // namespace palisade::test
