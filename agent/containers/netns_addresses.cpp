#include "containers/netns_addresses.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

// NLMSG_OK(nh, len) without its __u32 <= int comparison (clang's
// -Wsign-compare): len is first checked to hold a header, so it is positive and
// the comparison is exact in unsigned. len stays an int, as NLMSG_NEXT needs it
// (it subtracts the aligned length, which may exceed what is left).
bool nlmsgOk(const nlmsghdr* nh, int len) {
    return len >= static_cast<int>(sizeof(nlmsghdr)) && nh->nlmsg_len >= sizeof(nlmsghdr) &&
           nh->nlmsg_len <= static_cast<unsigned>(len);
}

// A process of the container: in its cgroup or one nested below it.
pid_t processIn(const std::string& cgroupPath, int depth = 0) {
    std::ifstream procs(cgroupPath + "/cgroup.procs");
    pid_t pid = 0;
    if (procs >> pid && pid > 0) return pid;
    if (depth >= 4) return 0;
    std::error_code ec;
    for (fs::directory_iterator it(cgroupPath, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code statEc;
        if (!fs::is_directory(it->symlink_status(statEc))) continue;
        if (pid_t p = processIn(it->path().string(), depth + 1)) return p;
    }
    return 0;
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

// A netlink socket in the calling thread's network namespace; it stays there.
int routeSocket() { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

// RTM_GETADDR dump over `fd`, in the namespace the socket was opened in.
bool dumpAddresses(int fd, std::vector<IpAddress>& out) {
    struct {
        nlmsghdr nh;
        ifaddrmsg ifa;
    } req{};
    req.nh.nlmsg_len = sizeof(req);
    req.nh.nlmsg_type = RTM_GETADDR;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.ifa.ifa_family = AF_UNSPEC;
    bool ok = send(fd, &req, sizeof(req), 0) == sizeof(req);
    alignas(nlmsghdr) char buf[16384];
    for (bool done = !ok; !done;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            ok = false;
            break;
        }
        int len = static_cast<int>(n);
        for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); nlmsgOk(nh, len);
             nh = NLMSG_NEXT(nh, len)) {
            if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
                done = true;
                ok = nh->nlmsg_type == NLMSG_DONE;
                break;
            }
            if (nh->nlmsg_type != RTM_NEWADDR) continue;
            auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(nh));
            if (ifa->ifa_scope == RT_SCOPE_HOST) continue;
            int rtlen = static_cast<int>(IFA_PAYLOAD(nh));
            for (auto* rta = IFA_RTA(ifa); RTA_OK(rta, rtlen); rta = RTA_NEXT(rta, rtlen)) {
                // IFA_LOCAL is the address itself on point-to-point links.
                if (rta->rta_type != IFA_ADDRESS) continue;
                IpAddress a;
                a.family = ifa->ifa_family == AF_INET6 ? 6 : 4;
                std::memcpy(a.bytes.data(), RTA_DATA(rta), a.family == 6 ? 16 : 4);
                out.push_back(a);
            }
        }
    }
    return ok;
}

ino_t netnsInode(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

std::string IpAddress::str() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text));
    return text;
}

AddressLearner::AddressLearner() : own_(netnsInode("/proc/self/ns/net")) {}

void AddressLearner::forgetNamespaces() { netnsOf_.clear(); }

std::map<uint64_t, std::vector<IpAddress>> AddressLearner::learn(
    const std::vector<Container>& containers) {
    // Which namespace each container is in: looked up once per container.
    std::map<ino_t, std::string> toEnter;  // new namespaces, by a path to them
    std::map<uint64_t, ino_t> netnsOf;
    for (const auto& c : containers) {
        if (auto known = netnsOf_.find(c.cgroupId); known != netnsOf_.end()) {
            netnsOf[c.cgroupId] = known->second;
            continue;
        }
        if (!populated(c.cgroupPath)) continue;
        pid_t pid = processIn(c.cgroupPath);
        if (!pid) continue;
        const std::string nsPath = "/proc/" + std::to_string(pid) + "/ns/net";
        const ino_t ino = netnsInode(nsPath);
        if (!ino) continue;
        netnsOf[c.cgroupId] = ino;
        if (ino != own_ && !sockets_.count(ino)) toEnter.emplace(ino, nsPath);
    }
    netnsOf_ = std::move(netnsOf);

    if (!toEnter.empty()) {
        // setns() moves only the calling thread: a short-lived thread enters
        // each new namespace, and the agent's own threads never leave theirs.
        std::thread visitor([&] {
            for (const auto& [ino, path] : toEnter) {
                const Fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
                Fd fd(ns && setns(ns.get(), CLONE_NEWNET) == 0 ? routeSocket() : -1);
                if (fd) {
                    sockets_[ino] = std::move(fd);
                } else {
                    spdlog::debug("network namespace {}: {}", path, errnoText(errno));
                }
            }
        });
        visitor.join();
    }

    // One dump per namespace in use (containers of a pod share one); the
    // sockets of namespaces no container is in any more go.
    std::set<ino_t> used;
    for (const auto& [cgid, ino] : netnsOf_) used.insert(ino);
    std::map<ino_t, std::vector<IpAddress>> byNetns;
    for (auto it = sockets_.begin(); it != sockets_.end();) {
        std::vector<IpAddress> addrs;
        if (!used.count(it->first) || !dumpAddresses(it->second.get(), addrs)) {
            it = sockets_.erase(it);
            continue;
        }
        byNetns[it->first] = std::move(addrs);
        ++it;
    }
    std::map<uint64_t, std::vector<IpAddress>> found;
    for (const auto& [cgid, ino] : netnsOf_) {
        if (auto it = byNetns.find(ino); it != byNetns.end()) found[cgid] = it->second;
    }
    return found;
}

}  // namespace palisade
