// Environment discovery, file and fd helpers.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness.h"
#include "harness_internal.h"

namespace palisade::test {
namespace detail {

Pipe makePipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throwErrno("pipe2");
    return Pipe{Fd(fds[0]), Fd(fds[1])};
}

void throwErrno(const std::string& what) {
    int err = errno;
    throw std::runtime_error(what + ": " + errnoText(err));
}

std::string joinArgv(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += a;
    }
    return out;
}

bool readFile(const std::string& path, std::string& out) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return false;
    out.clear();
    char buf[4096];
    for (int i = 0; i < 4096; ++i) {  // at most 16 MiB
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        out.append(buf, static_cast<size_t>(n));
    }
    return true;
}

bool writeAll(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = ::write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

bool writeFile(const std::string& path, const std::string& data) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) return false;
    return writeAll(fd.get(), data.data(), data.size());
}

}  // namespace detail

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountField(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
            out.push_back(static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) |
                                            (s[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

bool haveIp() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
        if (::access(p, X_OK) == 0) return true;
    return false;
}

}  // namespace

std::string cgroup2Mount() {
    std::string text;
    if (!detail::readFile("/proc/self/mountinfo", text))
        detail::throwErrno("read /proc/self/mountinfo");
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        size_t sep = line.find(" - ");
        if (sep == std::string::npos) continue;
        std::istringstream after(line.substr(sep + 3));
        std::string fstype;
        after >> fstype;
        if (fstype != "cgroup2") continue;
        std::istringstream before(line.substr(0, sep));
        std::string id, parent, devno, root, mountPoint;
        if (!(before >> id >> parent >> devno >> root >> mountPoint)) continue;
        return unescapeMountField(mountPoint);
    }
    throw std::runtime_error("no cgroup2 mount in /proc/self/mountinfo");
}

bool isRoot() { return ::geteuid() == 0; }

std::string environmentProblem() {
    if (!isRoot()) return "needs root (euid 0) for cgroups and network namespaces";
    try {
        cgroup2Mount();
    } catch (const std::exception& e) {
        return e.what();
    }
    if (!haveIp()) return "needs iproute2's `ip`";
    if (::access("/proc/self/ns/net", R_OK) != 0) return "no network namespaces";
    return "";
}

std::vector<std::string> netnsWithPrefix(const std::string& prefix) {
    std::vector<std::string> out;
    const DirPtr dir(::opendir("/run/netns"));
    if (!dir) return out;
    for (int i = 0; i < 100000; ++i) {
        dirent* e = ::readdir(dir.get());
        if (!e) break;
        std::string n = e->d_name;
        if (n.rfind(prefix, 0) == 0) out.push_back(n);
    }
    return out;
}

}  // namespace palisade::test
