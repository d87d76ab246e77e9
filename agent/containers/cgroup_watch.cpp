#include "containers/cgroup_watch.h"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>

#include <filesystem>

#include "containers/container.h"
#include "util/errno_text.h"

namespace palisade {

namespace fs = std::filesystem;

namespace {
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_ONLYDIR | IN_EXCL_UNLINK;
}

CgroupWatch::CgroupWatch(const std::string& cgroupRoot) : root_(cgroupRoot) {
    watchTree(root_, "", 0);
}

// The watch is added before the directory is listed, so a child created in
// between is seen one way or the other (a duplicate notice is harmless).
void CgroupWatch::watchTree(const std::string& path, const std::string& relative, int depth) {
    int wd = inotify_.add(path, kMask);
    if (wd < 0) {
        if (errno != ENOENT) spdlog::warn("watch {}: {}", path, errnoText(errno));
        return;
    }
    paths_[wd] = {relative, depth};
    if (depth + 1 >= kMaxCgroupDepth) return;
    std::error_code ec;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code statEc;
        if (!fs::is_directory(it->symlink_status(statEc)) || statEc) continue;
        const std::string child = relative + "/" + it->path().filename().string();
        if (!parseContainerCgroup(child)) watchTree(it->path().string(), child, depth + 1);
    }
}

bool CgroupWatch::drain() {
    bool changed = false;
    for (const auto& e : inotify_.read()) {
        if (e.mask & IN_Q_OVERFLOW) {
            changed = true;
            continue;
        }
        auto it = paths_.find(e.wd);
        if (it == paths_.end()) continue;
        if (e.mask & IN_IGNORED) {  // the directory went away
            paths_.erase(it);
            continue;
        }
        if (!(e.mask & IN_ISDIR)) continue;
        changed = true;
        const auto [relative, depth] = it->second;
        const std::string child = relative + "/" + e.name;
        if ((e.mask & IN_CREATE) && !parseContainerCgroup(child) && depth + 1 < kMaxCgroupDepth) {
            watchTree(root_ + child, child, depth + 1);
        }
    }
    return changed;
}

}  // namespace palisade
