#include "containers/netns_addresses.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "util/errno_text.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

// A container's fib_trie is a few KiB; a namespace with a full routing table
// is not a container's, and its tail is not worth reading.
constexpr size_t kMaxProcFile = 4 << 20;

// What /proc/<pid>/stat says of a process: its name (comm) and how long ago it
// started (starttime against CLOCK_BOOTTIME), in seconds.
struct ProcessStart {
    std::string name;
    double age = 0;
};
std::optional<ProcessStart> processStart(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // "pid (comm) state ...": comm may hold anything, ')' too; state is field 3,
    // starttime field 22.
    const size_t open = text.find('(');
    const size_t close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) {
        return std::nullopt;
    }
    std::istringstream fields(text.substr(close + 1));
    std::string skipped;
    for (int field = 3; field < 22 && fields >> skipped; field++) {
    }
    unsigned long long ticks = 0;
    if (!(fields >> ticks)) return std::nullopt;
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    const double started = static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
    return ProcessStart{text.substr(open + 1, close - open - 1),
                        static_cast<double>(now.tv_sec) + now.tv_nsec / 1e9 - started};
}

// A process over two seconds old is past any runtime's set-up, so in the
// namespace it runs in.
constexpr double kSetUpSeconds = 2.0;

// runc's first two stages of `runc init`: in the container's cgroup, still in the
// runtime's network namespace (runc:[2:INIT], the third, is in the container's).
// Only a young one is taken for what it says it is: a container's process can give
// itself any name.
bool runtimeSetUp(const ProcessStart& p) {
    return p.age < kSetUpSeconds && (p.name == "runc:[0:PARENT]" || p.name == "runc:[1:CHILD]");
}

// The processes of a container: in its cgroup or ones nested below it, the
// first `max` found.
void processesIn(const std::string& cgroupPath, std::vector<pid_t>& out, size_t max,
                 int depth = 0) {
    std::ifstream procs(cgroupPath + "/cgroup.procs");
    for (pid_t pid = 0; out.size() < max && procs >> pid;) {
        if (pid > 0) out.push_back(pid);
    }
    if (depth >= 4 || out.size() >= max) return;
    std::error_code ec;
    for (fs::directory_iterator it(cgroupPath, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code statEc;
        if (fs::is_directory(it->symlink_status(statEc)))
            processesIn(it->path().string(), out, max, depth + 1);
        if (out.size() >= max) return;
    }
}

bool inContainer(const std::string& cgroupPath, pid_t pid) {
    std::vector<pid_t> pids;
    processesIn(cgroupPath, pids, 4096);
    return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// Whether any process is in the cgroup or below it (cgroup.events), without
// walking it.
bool populated(const std::string& cgroupPath) {
    std::ifstream events(cgroupPath + "/cgroup.events");
    std::string key;
    int value = 0;
    while (events >> key >> value) {
        if (key == "populated") return value != 0;
    }
    return true;  // unknown: look
}

ino_t inodeOf(int fd) {
    struct stat st {};
    return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// The whole of a /proc seq file, from its start; false when it cannot be read.
bool readFromStart(int fd, std::string& out) {
    out.clear();
    if (lseek(fd, 0, SEEK_SET) != 0) return false;
    char buf[16384];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0 || out.size() >= kMaxProcFile) return true;
        out.append(buf, static_cast<size_t>(n));
    }
}

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

template <typename Each>
void forEachLine(std::string_view text, Each each) {
    while (!text.empty()) {
        const auto nl = text.find('\n');
        each(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

std::vector<IpAddress> sorted(std::set<IpAddress> in) { return {in.begin(), in.end()}; }

}  // namespace

std::vector<IpAddress> parseFibTrieLocal(std::string_view text) {
    // A leaf is "|-- A.B.C.D", followed by one line per route of that key:
    // "/32 host LOCAL" is a local address (fib_route_seq_show's rtn_type).
    std::set<IpAddress> out;
    std::optional<IpAddress> leaf;
    forEachLine(text, [&](std::string_view raw) {
        const std::string_view line = trim(raw);
        if (line.starts_with("|-- ")) {
            IpAddress a;
            const std::string ip(line.substr(4));
            leaf = inet_pton(AF_INET, ip.c_str(), a.bytes.data()) == 1 ? std::optional<IpAddress>(a)
                                                                       : std::nullopt;
        } else if (line.starts_with("+-- ") || !line.starts_with("/")) {
            leaf.reset();
        } else if (leaf && line == "/32 host LOCAL" && leaf->bytes[0] != 127) {
            out.insert(*leaf);
        }
    });
    return sorted(std::move(out));
}

std::vector<IpAddress> parseIfInet6(std::string_view text) {
    // "fd000000000000000000000000770002 03 40 00 c0 eth0": address, ifindex,
    // prefix length, scope, flags, name (if6_seq_show).
    constexpr unsigned kScopeHost = 0x10;  // IFA_HOST
    std::set<IpAddress> out;
    forEachLine(text, [&](std::string_view line) {
        line = trim(line);
        if (line.size() < 32 + 9) return;
        IpAddress a;
        a.family = 6;
        for (size_t i = 0; i < 16; i++) {
            const char* p = line.data() + 2 * i;
            if (std::from_chars(p, p + 2, a.bytes[i], 16).ptr != p + 2) return;
        }
        unsigned fields[4];
        size_t at = 32;
        for (unsigned& f : fields) {
            while (at < line.size() && line[at] == ' ') at++;
            const auto [end, ec] =
                std::from_chars(line.data() + at, line.data() + line.size(), f, 16);
            if (ec != std::errc()) return;
            at = static_cast<size_t>(end - line.data());
        }
        if (fields[2] != kScopeHost) out.insert(a);
    });
    return sorted(std::move(out));
}

AddressLearner::AddressLearner() : AddressLearner(Timings{}) {}

AddressLearner::AddressLearner(Timings timings) : timings_(timings) {
    const Fd own(open("/proc/self/net/fib_trie", O_RDONLY | O_CLOEXEC));
    own_ = own ? inodeOf(own.get()) : 0;
}

void AddressLearner::forgetNamespaces() { recheck_ = true; }

LearnedAddresses AddressLearner::learn(const std::vector<Container>& containers) {
    LearnedAddresses out;
    // Which namespace each container is in: looked up until it is settled, and again
    // after forgetNamespaces().
    std::map<uint64_t, Seen> seen;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& c : containers) {
        const auto known = seen_.find(c.cgroupId);
        Seen where;
        if (known != seen_.end()) {
            where = known->second;
        } else {
            where.firstSeen = now;
        }
        if (where.netns && where.netns != own_ && !netns_.count(where.netns)) where.netns = 0;
        if (where.netns && !where.candidate.netns && !recheck_) {
            seen[c.cgroupId] = where;
            continue;
        }
        if (!populated(c.cgroupPath)) continue;
        std::vector<pid_t> pids;
        processesIn(c.cgroupPath, pids, kProcessesLooked);
        if (pids.empty()) {
            // cgroup.procs shows 0 for a process of another PID namespace.
            out.unreadable[c.cgroupId] =
                "none of its processes is in the agent's PID namespace (the DaemonSet needs "
                "hostPID)";
            continue;
        }
        seen[c.cgroupId] = where;
        // The first process past the runtime's set-up; runc's set-up names count only in
        // the container's first seconds (any process can take them).
        pid_t pid = 0;
        std::optional<ProcessStart> process;
        for (pid_t candidate : pids) {
            // One whose stat cannot be read is looked at: opening its files says why.
            process = processStart(candidate);
            if (!process || !runtimeSetUp(*process) ||
                now - where.firstSeen >= timings_.setUpWindow) {
                pid = candidate;
                break;
            }
        }
        if (!pid) continue;  // the next pass looks again
        const std::string dir = "/proc/" + std::to_string(pid) + "/net/";
        Fd fib(open((dir + "fib_trie").c_str(), O_RDONLY | O_CLOEXEC));
        if (!fib) {
            const int err = errno;
            if (err != ENOENT) {
                out.unreadable[c.cgroupId] = dir + "fib_trie: " + errnoText(err);
            } else if (inContainer(c.cgroupPath, pid)) {
                out.unreadable[c.cgroupId] = "/proc/" + std::to_string(pid) +
                                             " is hidden from the agent (/proc mounted with "
                                             "hidepid=, or systemd's ProtectProc=)";
            }
            continue;  // else the process is gone; the next pass looks again
        }
        Fd inet6(open((dir + "if_inet6").c_str(), O_RDONLY | O_CLOEXEC));
        // The process may have gone and its id been reused since the cgroup
        // was read: what was read counts only if it is still the container's.
        const ino_t ino = inodeOf(fib.get());
        if (!ino || !inContainer(c.cgroupPath, pid)) continue;
        if (ino != where.netns) {
            if (ino != where.candidate.netns) where.candidate = {ino, now};
            // Until the new namespace settles, the settled one (if any) stays.
            if ((process && process->age >= kSetUpSeconds) ||
                now - where.candidate.since >= timings_.settle) {
                where.netns = ino;
            }
        }
        if (where.netns == ino) where.candidate = {};
        seen[c.cgroupId] = where;
        if (ino != own_ && !netns_.count(ino)) netns_[ino] = {std::move(fib), std::move(inet6)};
    }
    seen_ = std::move(seen);
    recheck_ = false;

    // Two reads per namespace in use (containers of a pod share one); the
    // files of namespaces no container is in any more are closed.
    std::set<ino_t> used;
    for (const auto& [cgid, where] : seen_) {
        used.insert(where.netns);
        used.insert(where.candidate.netns);
    }
    std::map<ino_t, std::vector<IpAddress>> byNetns;
    std::map<ino_t, std::string> failed;
    std::string text;
    for (auto it = netns_.begin(); it != netns_.end();) {
        if (!used.count(it->first)) {
            it = netns_.erase(it);
            continue;
        }
        std::vector<IpAddress> addrs;
        if (!readFromStart(it->second.fibTrie.get(), text)) {
            failed[it->first] = "read fib_trie: " + errnoText(errno);
            it = netns_.erase(it);
            continue;
        }
        addrs = parseFibTrieLocal(text);
        if (it->second.ifInet6 && readFromStart(it->second.ifInet6.get(), text)) {
            for (const IpAddress& a : parseIfInet6(text)) addrs.push_back(a);
        }
        std::ranges::sort(addrs);
        byNetns[it->first] = std::move(addrs);
        ++it;
    }
    for (const auto& [cgid, where] : seen_) {
        if (!where.netns) continue;
        if (auto it = byNetns.find(where.netns); it != byNetns.end()) {
            const auto& all = it->second;
            const size_t kept = std::min(all.size(), kMaxNetnsAddresses);
            out.byContainer[cgid].assign(all.begin(), all.begin() + kept);
            if (kept < all.size()) out.tooMany[cgid] = all.size();
            out.netnsOf[cgid] = where.netns;
        } else if (auto f = failed.find(where.netns); f != failed.end()) {
            out.unreadable[cgid] = f->second;
        }
    }
    return out;
}

void resolveAddressOwners(LearnedAddresses& learned, const LearnedAddresses& previous,
                          const std::map<IpAddress, std::vector<uint64_t>>& recorded) {
    // Who held each address: in this pass, and as the owner in the last one.
    std::map<IpAddress, std::vector<uint64_t>> holders;
    for (const auto& [cgid, addrs] : learned.byContainer) {
        for (const IpAddress& a : addrs) holders[a].push_back(cgid);
    }
    std::map<IpAddress, uint64_t> ownerBefore;
    for (const auto& [cgid, addrs] : previous.byContainer) {
        for (const IpAddress& a : addrs) ownerBefore[a] = cgid;
    }
    // Among `among` (sorted), the owner of the last pass if it is one, else the first.
    auto keepOwner = [&](const IpAddress& addr, const std::vector<uint64_t>& among) {
        const auto before = ownerBefore.find(addr);
        return before != ownerBefore.end() && std::ranges::count(among, before->second)
                   ? before->second
                   : among.front();
    };
    for (const auto& [addr, cgids] : holders) {
        // cgids is sorted (byContainer is a map): the first is the oldest cgroup.
        uint64_t owner = keepOwner(addr, cgids);
        if (auto given = recorded.find(addr); given != recorded.end()) {
            std::vector<uint64_t> recordedHolders;
            for (uint64_t cgid : cgids) {
                if (std::ranges::count(given->second, cgid)) recordedHolders.push_back(cgid);
            }
            if (!recordedHolders.empty()) {
                owner = keepOwner(addr, recordedHolders);
            } else if (std::ranges::none_of(given->second, [&](uint64_t cgid) {
                           return learned.netnsOf.count(cgid) != 0;
                       })) {
                // Its owner's namespace is not known yet: no one else has it meanwhile.
                owner = given->second.front();
            }
            // Else the record is stale (its containers' namespaces lack the address).
        }
        // An owner whose namespace is not known yet shares it with no one.
        const auto ownerNetns = learned.netnsOf.find(owner);
        for (uint64_t cgid : cgids) {
            if (cgid == owner || (ownerNetns != learned.netnsOf.end() &&
                                  learned.netnsOf[cgid] == ownerNetns->second)) {
                continue;
            }
            std::erase(learned.byContainer[cgid], addr);
            learned.conflicts[cgid][addr] = owner;
        }
    }
}

std::map<uint64_t, uint64_t> podEndpoints(const LearnedAddresses& learned) {
    std::map<uint64_t, uint64_t> oldest;  // by namespace; netnsOf is by cgroup id, lowest first
    for (const auto& [cgid, netns] : learned.netnsOf) oldest.try_emplace(netns, cgid);
    std::map<uint64_t, uint64_t> out;
    for (const auto& [cgid, netns] : learned.netnsOf) {
        if (oldest.at(netns) != cgid) out[cgid] = oldest.at(netns);
    }
    return out;
}

std::map<IpAddress, std::vector<uint64_t>> recordedOwners(
    const std::vector<Container>& containers) {
    std::map<IpAddress, std::vector<uint64_t>> out;
    for (const Container& c : containers) {
        for (const IpAddress& a : c.recordedAddresses) out[a].push_back(c.cgroupId);
    }
    return out;
}

}  // namespace palisade
