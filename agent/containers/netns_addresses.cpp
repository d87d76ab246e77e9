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
#include <thread>

namespace palisade {
namespace {

namespace fs = std::filesystem;

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

// RTM_GETADDR dump in the calling thread's network namespace.
bool dumpAddresses(std::vector<IpAddress>& out) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return false;
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
        for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len);
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
    close(fd);
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

std::map<uint64_t, std::vector<IpAddress>> learnAddresses(
    const std::vector<Container>& containers) {
    std::map<uint64_t, std::vector<IpAddress>> found;
    // setns() moves only the calling thread: a short-lived thread visits every
    // namespace, and the agent's own threads never leave theirs.
    std::thread visitor([&] {
        const ino_t own = netnsInode("/proc/self/ns/net");
        std::map<ino_t, std::vector<IpAddress>> byNetns;  // containers sharing a netns (pods)
        for (const auto& c : containers) {
            pid_t pid = processIn(c.cgroupPath);
            if (!pid) continue;
            const std::string nsPath = "/proc/" + std::to_string(pid) + "/ns/net";
            const ino_t ino = netnsInode(nsPath);
            if (!ino || ino == own) continue;
            if (auto it = byNetns.find(ino); it != byNetns.end()) {
                found[c.cgroupId] = it->second;
                continue;
            }
            int fd = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
            std::vector<IpAddress> addrs;
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0 || !dumpAddresses(addrs)) {
                spdlog::debug("addresses of container {}: {}", c.id.substr(0, 12),
                              std::strerror(errno));
                if (fd >= 0) close(fd);
                continue;
            }
            close(fd);
            byNetns[ino] = addrs;
            found[c.cgroupId] = std::move(addrs);
        }
    });
    visitor.join();
    return found;
}

}  // namespace palisade
