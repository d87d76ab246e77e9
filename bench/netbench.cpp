// palisade-netbench: the load generator and helpers behind bench/run.py.
//
// Every subcommand first places itself where the benchmark needs it, in this
// order: joins a cgroup (--cgroup DIR: writes its pid to DIR/cgroup.procs, so
// the sockets it creates belong to that cgroup and the cgroup BPF hooks see
// it), enters a network namespace (--netns NAME: /run/netns/NAME), pins itself
// to one CPU (--cpu N). Then:
//
//   serve    a TCP listener that accepts and closes, or a UDP sink, until
//            --seconds pass or SIGTERM; prints "ready" once bound
//   connect  N x (socket, blocking connect, SO_LINGER {1,0}, close); rate and
//            latency percentiles as JSON
//   sendto   N x unconnected UDP sendto from one socket; rate and latency
//   probe    UDP connect() verdict probes while a policy is reloaded: when the
//            --flip destination's verdict changed, and every wrong verdict on
//            the --allow / --deny destinations meanwhile
//   flood    denied UDP connect()s as fast as possible (one event each)
//   exec     runs a command there (iperf3)
//
// With --bpf-stats ID,... connect and sendto also turn on the kernel's BPF run
// time statistics (BPF_ENABLE_STATS, dropped again when the process exits) and
// report run_cnt and run_time_ns of those programs over the measured loop.
//
// Every loop is bounded by a count and a time (and a SIGALRM watchdog that
// interrupts a blocking call); the process never outlives its --seconds by
// more than a few seconds.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

volatile sig_atomic_t gStop = 0;

void onStopSignal(int) { gStop = 1; }

[[noreturn]] void die(const std::string& what, int err = 0) {
    std::fprintf(stderr, "palisade-netbench: %s%s%s\n", what.c_str(), err ? ": " : "",
                 err ? std::strerror(err) : "");
    std::exit(2);
}

uint64_t nowNs(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// SIGTERM/SIGINT stop the loops; SIGALRM (the watchdog) too, and because it
// is installed without SA_RESTART it also interrupts a blocking connect/accept.
void installSignals(double watchdogSeconds) {
    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    for (int s : {SIGTERM, SIGINT, SIGALRM}) sigaction(s, &sa, nullptr);
    itimerval t{};
    t.it_value.tv_sec = static_cast<time_t>(watchdogSeconds);
    t.it_value.tv_usec =
        static_cast<suseconds_t>((watchdogSeconds - double(t.it_value.tv_sec)) * 1e6);
    setitimer(ITIMER_REAL, &t, nullptr);
}

struct Placement {
    std::string cgroup;
    std::string netns;
    int cpu = -1;
};

void place(const Placement& p) {
    if (!p.cgroup.empty()) {
        const std::string procs = p.cgroup + "/cgroup.procs";
        int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) die("open " + procs, errno);
        const std::string pid = std::to_string(getpid());
        if (write(fd, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size()))
            die("join cgroup " + p.cgroup, errno);
        close(fd);
    }
    if (!p.netns.empty()) {
        const std::string path = "/run/netns/" + p.netns;
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open " + path, errno);
        if (setns(fd, CLONE_NEWNET) != 0) die("setns " + path, errno);
        close(fd);
    }
    if (p.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(p.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("pin to CPU " + std::to_string(p.cpu), errno);
    }
}

struct Address {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_UNSPEC;
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

Address parseAddress(const std::string& ip, int port) {
    Address a;
    if (port < 0 || port > 65535) die("bad port " + std::to_string(port));
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        a.len = sizeof *v4;
        a.family = AF_INET;
    } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        a.len = sizeof *v6;
        a.family = AF_INET6;
    } else {
        die("not an IP address: " + ip);
    }
    return a;
}

// "IP:PORT" or "[IPv6]:PORT".
Address parseEndpoint(const std::string& text) {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) die("expected IP:PORT, not " + text);
    std::string ip = text.substr(0, colon);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    return parseAddress(ip, std::atoi(text.c_str() + colon + 1));
}

// ---------------------------------------------------------------------------
// BPF program run time (BPF_ENABLE_STATS)

struct ProgStats {
    uint32_t id = 0;
    std::string name;
    uint64_t runCnt = 0;
    uint64_t runTimeNs = 0;
};

std::vector<uint32_t> parseIds(const std::string& list) {
    std::vector<uint32_t> ids;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) ids.push_back(static_cast<uint32_t>(std::stoul(item)));
    return ids;
}

std::vector<ProgStats> progStats(const std::vector<uint32_t>& ids) {
    std::vector<ProgStats> out;
    for (uint32_t id : ids) {
        ProgStats s;
        s.id = id;
        int fd = bpf_prog_get_fd_by_id(id);
        if (fd < 0) die("bpf_prog_get_fd_by_id " + std::to_string(id), errno);
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
            die("bpf_obj_get_info_by_fd " + std::to_string(id), errno);
        close(fd);
        s.name = info.name;
        s.runCnt = info.run_cnt;
        s.runTimeNs = info.run_time_ns;
        out.push_back(s);
    }
    return out;
}

class BpfStatsWindow {
  public:
    explicit BpfStatsWindow(const std::string& idList) : ids_(parseIds(idList)) {
        if (ids_.empty()) return;
        statsFd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
        if (statsFd_ < 0) die("bpf_enable_stats", errno);
    }
    ~BpfStatsWindow() {
        if (statsFd_ >= 0) close(statsFd_);
    }
    void begin() {
        if (!ids_.empty()) before_ = progStats(ids_);
    }
    void end() {
        if (!ids_.empty()) after_ = progStats(ids_);
    }
    json report(uint64_t ops) const {
        json out = json::array();
        for (size_t i = 0; i < after_.size(); i++) {
            const uint64_t runs = after_[i].runCnt - before_[i].runCnt;
            const uint64_t ns = after_[i].runTimeNs - before_[i].runTimeNs;
            out.push_back({{"id", after_[i].id},
                           {"name", after_[i].name},
                           {"run_cnt", runs},
                           {"run_time_ns", ns},
                           {"ns_per_run", runs ? double(ns) / double(runs) : 0.0},
                           {"runs_per_op", ops ? double(runs) / double(ops) : 0.0},
                           {"ns_per_op", ops ? double(ns) / double(ops) : 0.0}});
        }
        return out;
    }

  private:
    std::vector<uint32_t> ids_;
    int statsFd_ = -1;
    std::vector<ProgStats> before_, after_;
};

// ---------------------------------------------------------------------------
// Results

struct Loop {
    uint64_t count = 0;   // at most this many measured operations
    double seconds = 0;   // ... and at most this long
    uint64_t warmup = 0;  // unmeasured operations first
    uint64_t maxErrors = 0;
};

json latencyJson(std::vector<uint32_t>& lat) {
    if (lat.empty()) return json::object();
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
        size_t i = static_cast<size_t>(p * double(lat.size() - 1) + 0.5);
        return lat[std::min(i, lat.size() - 1)];
    };
    double sum = 0;
    for (uint32_t v : lat) sum += v;
    return {{"p50_ns", pct(0.50)},
            {"p90_ns", pct(0.90)},
            {"p99_ns", pct(0.99)},
            {"max_ns", lat.back()},
            {"mean_ns", sum / double(lat.size())}};
}

json errnoJson(const std::map<int, uint64_t>& errors) {
    json out = json::object();
    for (const auto& [err, n] : errors)
        out[strerrorname_np(err) ? strerrorname_np(err) : std::to_string(err)] = n;
    return out;
}

// ---------------------------------------------------------------------------
// connect

int connectOnce(const Address& a) {
    int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int err = connect(fd, a.sa(), a.len) == 0 ? 0 : errno;
    // Reset instead of FIN: no TIME_WAIT, so ephemeral ports never run out.
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
    return err;
}

json runConnect(const Address& a, const Loop& loop, BpfStatsWindow& stats) {
    std::map<int, uint64_t> errors;
    uint64_t errorCount = 0;
    for (uint64_t i = 0; i < loop.warmup && !gStop; i++) {
        if (int err = connectOnce(a)) {
            errors[err]++;
            if (++errorCount > loop.maxErrors) break;
        }
    }
    std::vector<uint32_t> lat;
    lat.reserve(static_cast<size_t>(std::min<uint64_t>(loop.count, 4000000)));
    stats.begin();
    const uint64_t start = nowNs();
    const uint64_t deadline = start + static_cast<uint64_t>(loop.seconds * 1e9);
    uint64_t end = start, ops = 0;
    while (ops < loop.count && !gStop && errorCount <= loop.maxErrors) {
        const uint64_t t0 = nowNs();
        const int err = connectOnce(a);
        end = nowNs();
        if (err) {
            errors[err]++;
            errorCount++;
        } else {
            ops++;
            lat.push_back(static_cast<uint32_t>(std::min<uint64_t>(end - t0, UINT32_MAX)));
        }
        if (end >= deadline) break;
    }
    stats.end();
    const double secs = double(end - start) / 1e9;
    return {{"ops", ops},
            {"seconds", secs},
            {"rate", secs > 0 ? double(ops) / secs : 0.0},
            {"latency", latencyJson(lat)},
            {"errors", errnoJson(errors)},
            {"interrupted", gStop != 0},
            {"bpf", stats.report(ops)}};
}

// ---------------------------------------------------------------------------
// sendto

// Timed in batches of kBatch sends: two clock reads per send would add a few
// percent to a ~2 us operation, the same in every configuration but enough to
// flatten the ratios. A batch's latency is its time divided by kBatch.
constexpr uint64_t kBatch = 16;

json runSendto(const Address& a, const Loop& loop, size_t size, BpfStatsWindow& stats) {
    int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    std::vector<char> payload(std::max<size_t>(size, 1), 'p');
    std::map<int, uint64_t> errors;
    uint64_t errorCount = 0;
    auto sendOnce = [&]() {
        if (sendto(fd, payload.data(), payload.size(), 0, a.sa(), a.len) < 0) {
            errors[errno]++;
            errorCount++;
            return false;
        }
        return true;
    };
    for (uint64_t i = 0; i < loop.warmup && !gStop && errorCount <= loop.maxErrors; i++) sendOnce();
    std::vector<uint32_t> lat;
    lat.reserve(static_cast<size_t>(std::min<uint64_t>(loop.count / kBatch + 1, 4000000)));
    stats.begin();
    const uint64_t start = nowNs();
    const uint64_t deadline = start + static_cast<uint64_t>(loop.seconds * 1e9);
    uint64_t end = start, ops = 0;
    while (ops < loop.count && !gStop && errorCount <= loop.maxErrors) {
        const uint64_t t0 = nowNs();
        uint64_t ok = 0;
        for (uint64_t i = 0; i < kBatch; i++) ok += sendOnce() ? 1 : 0;
        end = nowNs();
        ops += ok;
        if (ok == kBatch) lat.push_back(static_cast<uint32_t>((end - t0) / kBatch));
        if (end >= deadline) break;
    }
    stats.end();
    close(fd);
    const double secs = double(end - start) / 1e9;
    return {{"ops", ops},
            {"seconds", secs},
            {"rate", secs > 0 ? double(ops) / secs : 0.0},
            {"latency", latencyJson(lat)},
            {"latency_batch", kBatch},
            {"errors", errnoJson(errors)},
            {"interrupted", gStop != 0},
            {"bpf", stats.report(ops)}};
}

// ---------------------------------------------------------------------------
// Alternating placements: the robust comparison on a noisy machine
//
// One process switches between placement A (the configuration under test) and
// placement B (the baseline) every slice, in the order A B B A A B B A..., so
// both see the same load; each adjacent (A, B) pair of slices gives one ratio,
// and the median of those ratios shrugs off a burst of foreign load that a
// block-by-block comparison would take in full.

class PlacementSwitch {
  public:
    PlacementSwitch(const Placement& a, const Placement& b) {
        const Placement* ps[2] = {&a, &b};
        for (int i = 0; i < 2; i++) {
            const std::string procs = ps[i]->cgroup + "/cgroup.procs";
            procs_[i] = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
            if (procs_[i] < 0) die("open " + procs, errno);
            const std::string ns = "/run/netns/" + ps[i]->netns;
            netns_[i] = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
            if (netns_[i] < 0) die("open " + ns, errno);
        }
    }
    ~PlacementSwitch() {
        for (int i = 0; i < 2; i++) {
            close(procs_[i]);
            close(netns_[i]);
        }
    }
    void enter(int side) {
        const std::string pid = std::to_string(getpid());
        if (write(procs_[side], pid.data(), pid.size()) != static_cast<ssize_t>(pid.size()))
            die("join cgroup", errno);
        if (setns(netns_[side], CLONE_NEWNET) != 0) die("setns", errno);
    }

  private:
    int procs_[2] = {-1, -1};
    int netns_[2] = {-1, -1};
};

json runAlternating(bool tcp, const Address& a, const Loop& loop, size_t size, double sliceMs,
                    PlacementSwitch& sw) {
    struct Side {
        uint64_t ops = 0;
        uint64_t ns = 0;
        std::vector<uint32_t> lat;
        std::vector<double> sliceRates;
        std::map<int, uint64_t> errors;
    };
    Side sides[2];
    uint64_t errorCount = 0;
    std::vector<char> payload(std::max<size_t>(size, 1), 'p');
    const uint64_t batch = tcp ? 1 : kBatch;

    // One measured unit: a connect+close, or kBatch sendtos. Returns the
    // operations that succeeded.
    auto unit = [&](Side& side, int udpFd) -> uint64_t {
        const uint64_t t0 = nowNs();
        uint64_t ok = 0;
        if (tcp) {
            if (int err = connectOnce(a)) {
                side.errors[err]++;
                errorCount++;
            } else {
                ok = 1;
            }
        } else {
            for (uint64_t i = 0; i < kBatch; i++) {
                if (sendto(udpFd, payload.data(), payload.size(), 0, a.sa(), a.len) < 0) {
                    side.errors[errno]++;
                    errorCount++;
                } else {
                    ok++;
                }
            }
        }
        const uint64_t t1 = nowNs();
        if (ok == batch) side.lat.push_back(static_cast<uint32_t>((t1 - t0) / batch));
        return ok;
    };
    auto openUdp = [&]() {
        if (tcp) return -1;
        int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket", errno);
        return fd;
    };

    for (int s = 0; s < 2 && !gStop; s++) {
        sw.enter(s);
        int fd = openUdp();
        Side scratch;
        for (uint64_t i = 0; i < loop.warmup / batch + 1 && !gStop; i++) unit(scratch, fd);
        if (fd >= 0) close(fd);
    }
    errorCount = 0;

    const uint64_t sliceNs = static_cast<uint64_t>(sliceMs * 1e6);
    uint64_t slices = static_cast<uint64_t>(2 * loop.seconds * 1e3 / sliceMs + 0.5);
    slices = std::max<uint64_t>(2, slices + (slices & 1));
    std::vector<double> pairRatios;
    double lastRate[2] = {0, 0};
    for (uint64_t i = 0; i < slices && !gStop && errorCount <= loop.maxErrors; i++) {
        const int side = static_cast<int>(((i + 1) / 2) % 2);  // A B B A A B B A ...
        Side& sd = sides[side];
        sw.enter(side);
        int fd = openUdp();
        const uint64_t start = nowNs();
        uint64_t end = start, ops = 0;
        while (!gStop && errorCount <= loop.maxErrors && sd.ops + ops < loop.count) {
            ops += unit(sd, fd);
            end = nowNs();
            if (end - start >= sliceNs) break;
        }
        if (fd >= 0) close(fd);
        sd.ops += ops;
        sd.ns += end - start;
        lastRate[side] = end > start ? double(ops) * 1e9 / double(end - start) : 0;
        sd.sliceRates.push_back(lastRate[side]);
        // Slices 2k and 2k+1 are one A and one B: time per op of A over that of B.
        if ((i & 1) && lastRate[0] > 0) pairRatios.push_back(lastRate[1] / lastRate[0]);
    }
    auto sideJson = [](Side& sd) {
        const double secs = double(sd.ns) / 1e9;
        return json{{"ops", sd.ops},
                    {"seconds", secs},
                    {"rate", secs > 0 ? double(sd.ops) / secs : 0.0},
                    {"latency", latencyJson(sd.lat)},
                    {"errors", errnoJson(sd.errors)}};
    };
    std::vector<double> sorted = pairRatios;
    std::sort(sorted.begin(), sorted.end());
    return {{"a", sideJson(sides[0])},
            {"b", sideJson(sides[1])},
            {"slices", slices},
            {"slice_ms", sliceMs},
            {"pair_ratios", pairRatios},
            {"ratio_median", sorted.empty() ? 0.0 : sorted[sorted.size() / 2]},
            {"interrupted", gStop != 0}};
}

// ---------------------------------------------------------------------------
// serve

int listenSocket(int type, int port, const std::string& bindIp) {
    Address a = parseAddress(bindIp, port);
    int fd = socket(a.family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket", errno);
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (type == SOCK_DGRAM) {
        int buf = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    }
    if (bind(fd, a.sa(), a.len) != 0) die("bind " + bindIp + ":" + std::to_string(port), errno);
    if (type == SOCK_STREAM && listen(fd, 4096) != 0) die("listen", errno);
    return fd;
}

json runServe(const std::string& proto, int port, const std::string& bindIp, double seconds) {
    const int type = proto == "udp" ? SOCK_DGRAM : SOCK_STREAM;
    int fd = listenSocket(type, port, bindIp);
    std::printf("ready\n");
    std::fflush(stdout);
    const uint64_t deadline = nowNs() + static_cast<uint64_t>(seconds * 1e9);
    uint64_t count = 0, bytes = 0;
    constexpr int kVec = 64;
    std::vector<char> bufs(kVec * 2048);
    mmsghdr msgs[kVec];
    iovec iov[kVec];
    while (!gStop && nowNs() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        for (int burst = 0; burst < 1024 && !gStop; burst++) {
            if (type == SOCK_STREAM) {
                int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0) break;
                close(c);
                count++;
            } else {
                for (int i = 0; i < kVec; i++) {
                    iov[i] = {bufs.data() + i * 2048, 2048};
                    msgs[i] = {};
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                int n = recvmmsg(fd, msgs, kVec, MSG_DONTWAIT, nullptr);
                if (n <= 0) break;
                count += static_cast<uint64_t>(n);
                for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
            }
        }
    }
    close(fd);
    return {{"served", count}, {"bytes", bytes}};
}

// ---------------------------------------------------------------------------
// probe: verdicts while a policy is reloaded

int udpConnectVerdict(int fd, const Address& a) {
    return connect(fd, a.sa(), a.len) == 0 ? 0 : errno;
}

json runProbe(const Address& allow, const Address& deny, const Address& flip, double seconds,
              int intervalUs, double afterMs) {
    int fa = socket(allow.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int fdn = socket(deny.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int ff = socket(flip.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fa < 0 || fdn < 0 || ff < 0) die("socket", errno);
    const int initial = udpConnectVerdict(ff, flip);
    if (udpConnectVerdict(fa, allow) != 0) die("probe: the --allow destination is not allowed");
    if (udpConnectVerdict(fdn, deny) != EPERM) die("probe: the --deny destination is not denied");
    std::printf("ready %d\n", initial);
    std::fflush(stdout);

    const uint64_t deadline = nowNs() + static_cast<uint64_t>(seconds * 1e9);
    uint64_t iterations = 0, wrongAllow = 0, wrongDeny = 0, flaps = 0, flippedAt = 0,
             flippedMono = 0;
    int flipNow = initial;
    timespec pause{0, intervalUs * 1000L};
    while (!gStop) {
        const uint64_t t = nowNs();
        if (t >= deadline) break;
        if (flippedMono && t - flippedMono >= static_cast<uint64_t>(afterMs * 1e6)) break;
        iterations++;
        if (udpConnectVerdict(fa, allow) != 0) wrongAllow++;
        if (udpConnectVerdict(fdn, deny) != EPERM) wrongDeny++;
        const int v = udpConnectVerdict(ff, flip);
        if (v != flipNow) {
            if (!flippedAt) {
                flippedAt = nowNs(CLOCK_REALTIME);
                flippedMono = nowNs();
            } else {
                flaps++;
            }
            flipNow = v;
        }
        if (intervalUs > 0) nanosleep(&pause, nullptr);
    }
    close(fa);
    close(fdn);
    close(ff);
    return {{"initial_errno", initial},
            {"final_errno", flipNow},
            {"flipped_at_ns", flippedAt},
            {"iterations", iterations},
            {"wrong_allow", wrongAllow},
            {"wrong_deny", wrongDeny},
            {"flaps", flaps}};
}

// ---------------------------------------------------------------------------
// flood: one denied UDP connect() after another

json runFlood(const Address& a, const Loop& loop) {
    int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    const uint64_t startRealtime = nowNs(CLOCK_REALTIME);
    const uint64_t start = nowNs();
    const uint64_t deadline = start + static_cast<uint64_t>(loop.seconds * 1e9);
    uint64_t attempts = 0, denied = 0, end = start;
    while (attempts < loop.count && !gStop) {
        for (int i = 0; i < 64; i++) {
            if (connect(fd, a.sa(), a.len) != 0 && errno == EPERM) denied++;
        }
        attempts += 64;
        end = nowNs();
        if (end >= deadline) break;
    }
    close(fd);
    const double secs = double(end - start) / 1e9;
    return {{"attempts", attempts},
            {"denied", denied},
            {"seconds", secs},
            {"rate", secs > 0 ? double(attempts) / secs : 0.0},
            {"start_realtime_ns", startRealtime}};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"palisade-netbench: load generator for bench/run.py"};
    app.require_subcommand(1);
    Placement where;
    app.add_option("--cgroup", where.cgroup, "join this cgroup v2 directory first");
    app.add_option("--netns", where.netns, "then enter /run/netns/NAME");
    app.add_option("--cpu", where.cpu, "then pin to this CPU");

    std::string target, bpfIds, proto = "tcp", bindIp = "::";
    Loop loop{1000000, 1.0, 0, 1000};
    size_t size = 16;
    int port = 0;
    double seconds = 60;

    Placement alt;
    double sliceMs = 0;
    auto addLoop = [&](CLI::App* sub) {
        sub->add_option("--to", target, "IP:PORT")->required();
        sub->add_option("--count", loop.count, "at most this many operations");
        sub->add_option("--seconds", loop.seconds, "at most this long");
        sub->add_option("--warmup", loop.warmup, "unmeasured operations first");
        sub->add_option("--max-errors", loop.maxErrors, "stop after this many failures");
        sub->add_option("--bpf-stats", bpfIds, "BPF program ids: report their run time");
    };
    auto addAlternation = [&](CLI::App* sub) {
        sub->add_option("--alt-cgroup", alt.cgroup, "baseline placement: cgroup (with --slice-ms)");
        sub->add_option("--alt-netns", alt.netns, "baseline placement: netns (with --slice-ms)");
        sub->add_option("--slice-ms", sliceMs,
                        "alternate between --cgroup/--netns (A) and the --alt-* placement (B) "
                        "every this many ms; --seconds is then per placement");
    };
    auto* connectCmd = app.add_subcommand("connect", "TCP connect+close loop");
    addLoop(connectCmd);
    addAlternation(connectCmd);
    auto* sendtoCmd = app.add_subcommand("sendto", "unconnected UDP sendto loop");
    addLoop(sendtoCmd);
    addAlternation(sendtoCmd);
    sendtoCmd->add_option("--size", size, "payload bytes");

    auto* serveCmd = app.add_subcommand("serve", "TCP accept+close or UDP sink");
    serveCmd->add_option("--proto", proto)->check(CLI::IsMember({"tcp", "udp"}));
    serveCmd->add_option("--port", port)->required();
    serveCmd->add_option("--bind", bindIp);
    serveCmd->add_option("--seconds", seconds, "exit after this long");

    std::string allowTo, denyTo, flipTo;
    int intervalUs = 100;
    double afterMs = 300;
    auto* probeCmd = app.add_subcommand("probe", "UDP connect verdict probes during a reload");
    probeCmd->add_option("--allow", allowTo, "IP:PORT that must stay allowed")->required();
    probeCmd->add_option("--deny", denyTo, "IP:PORT that must stay denied")->required();
    probeCmd->add_option("--flip", flipTo, "IP:PORT whose verdict the reload changes")->required();
    probeCmd->add_option("--seconds", seconds, "give up after this long");
    probeCmd->add_option("--interval-us", intervalUs, "pause between probe rounds");
    probeCmd->add_option("--after-ms", afterMs, "keep probing this long after the flip");

    auto* floodCmd = app.add_subcommand("flood", "denied UDP connect() loop");
    addLoop(floodCmd);

    std::vector<std::string> command;
    auto* execCmd = app.add_subcommand("exec", "run a command in the placement");
    execCmd->add_option("command", command)->required();

    CLI11_PARSE(app, argc, argv);
    place(where);

    if (*execCmd) {
        std::vector<char*> args;
        for (auto& s : command) args.push_back(s.data());
        args.push_back(nullptr);
        execvp(args[0], args.data());
        die("exec " + command[0], errno);
    }

    json out;
    if (*serveCmd) {
        installSignals(seconds + 5);
        out = runServe(proto, port, bindIp, seconds);
    } else if (*probeCmd) {
        installSignals(seconds + 5);
        out = runProbe(parseEndpoint(allowTo), parseEndpoint(denyTo), parseEndpoint(flipTo),
                       seconds, intervalUs, afterMs);
    } else {
        const Address a = parseEndpoint(target);
        if (sliceMs > 0 && (*connectCmd || *sendtoCmd)) {
            if (where.cgroup.empty() || where.netns.empty() || alt.cgroup.empty() ||
                alt.netns.empty())
                die("--slice-ms needs --cgroup, --netns, --alt-cgroup and --alt-netns");
            installSignals(2 * loop.seconds + 20);
            PlacementSwitch sw(where, alt);
            out = runAlternating(static_cast<bool>(*connectCmd), a, loop, size, sliceMs, sw);
        } else {
            installSignals(loop.seconds + 10);
            BpfStatsWindow stats(bpfIds);
            if (*connectCmd) out = runConnect(a, loop, stats);
            if (*sendtoCmd) out = runSendto(a, loop, size, stats);
        }
        if (*floodCmd) out = runFlood(a, loop);
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
}
