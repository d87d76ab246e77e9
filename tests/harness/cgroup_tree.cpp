// The test's own cgroup v2 subtree.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness.h"
#include "harness_internal.h"

namespace palisade::test {

namespace detail {

// Kills (by PID) the processes in one cgroup directory; never ourselves.
void killCgroupProcs(const std::string& dir) {
    for (pid_t pid : cgroupProcs(dir))
        if (pid > 0 && pid != ::getpid()) ::kill(pid, SIGKILL);
}

// rmdir one cgroup directory, killing what is in it, retrying for ~2 s while
// it is busy (processes still exiting).
bool removeCgroupDir(const std::string& dir) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        killCgroupProcs(dir);
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
        if (errno != EBUSY && errno != EAGAIN && errno != EINTR) break;
        std::this_thread::sleep_for(Millis{20});
    }
    const int err = errno;
    std::fprintf(stderr, "harness: cannot remove cgroup %s: %s\n", dir.c_str(),
                 errnoText(err).c_str());
    return false;
}

// Removes `dir` and every cgroup below it, deepest first.
bool removeCgroupSubtree(const std::string& dir, int depth) {
    if (depth > 64) return false;
    bool ok = true;
    std::vector<std::string> children;
    if (const DirPtr d{::opendir(dir.c_str())}) {
        for (int i = 0; i < 100000; ++i) {
            dirent* e = ::readdir(d.get());
            if (!e) break;
            if (e->d_type != DT_DIR) continue;
            if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
            children.push_back(dir + "/" + e->d_name);
        }
    } else if (errno == ENOENT) {
        return true;
    }
    killCgroupProcs(dir);  // first, so nothing here forks into the children
    for (const auto& c : children) ok = removeCgroupSubtree(c, depth + 1) && ok;
    return removeCgroupDir(dir) && ok;
}

}  // namespace detail

uint64_t cgroupIdOf(const std::string& path) {
    struct {
        file_handle fh;
        unsigned char id[8];
    } h{};
    h.fh.handle_bytes = sizeof h.id;
    int mountId = 0;
    if (::name_to_handle_at(AT_FDCWD, path.c_str(), &h.fh, &mountId, 0) == 0 &&
        h.fh.handle_bytes == sizeof(uint64_t)) {
        uint64_t id = 0;
        std::memcpy(&id, h.fh.f_handle, sizeof id);
        return id;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) detail::throwErrno("stat " + path);
    return st.st_ino;
}

std::vector<pid_t> cgroupProcs(const std::string& path) {
    std::vector<pid_t> out;
    std::string text;
    if (!detail::readFile(path + "/cgroup.procs", text)) return out;
    std::istringstream in(text);
    long pid = 0;
    for (int i = 0; i < 100000 && (in >> pid); ++i) out.push_back(static_cast<pid_t>(pid));
    return out;
}

CgroupTree::CgroupTree() : mount_(cgroup2Mount()) {
    static std::atomic<int> counter{0};
    for (int i = 0; i < 1000; ++i) {
        const std::string candidate = mount_ + "/palisade-test-" + std::to_string(::getpid()) +
                                      "-" + std::to_string(counter++);
        if (::mkdir(candidate.c_str(), 0755) == 0) {
            path_ = candidate;
            return;
        }
        if (errno != EEXIST) detail::throwErrno("mkdir " + candidate);
    }
    throw std::runtime_error("CgroupTree: no free name under " + mount_);
}

CgroupTree::~CgroupTree() {
    if (!path_.empty()) detail::removeCgroupSubtree(path_);
}

uint64_t CgroupTree::id() const { return cgroupIdOf(path_); }

std::string CgroupTree::create(const std::string& relative) {
    if (relative.empty() || relative.front() == '/')
        throw std::invalid_argument("CgroupTree::create: not a relative path: '" + relative + "'");
    std::string current = path_;
    std::istringstream parts(relative);
    std::string part;
    for (int i = 0; i < 64 && std::getline(parts, part, '/'); ++i) {
        if (part.empty() || part == "." || part == "..")
            throw std::invalid_argument("CgroupTree::create: bad component in '" + relative + "'");
        current += "/" + part;
        if (::mkdir(current.c_str(), 0755) != 0 && errno != EEXIST)
            detail::throwErrno("mkdir " + current);
    }
    return current;
}

std::string CgroupTree::relativeToMount(const std::string& abs) const {
    if (abs.compare(0, mount_.size(), mount_) != 0)
        throw std::invalid_argument("not under " + mount_ + ": " + abs);
    std::string rel = abs.substr(mount_.size());
    return rel.empty() ? "/" : rel;
}

bool CgroupTree::remove(const std::string& abs) {
    if (abs != path_ && abs.rfind(path_ + "/", 0) != 0)
        throw std::invalid_argument("CgroupTree::remove: not in the tree: " + abs);
    if (abs.find("/..") != std::string::npos)
        throw std::invalid_argument("CgroupTree::remove: bad path: " + abs);
    return detail::removeCgroupSubtree(abs);
}

}  // namespace palisade::test
