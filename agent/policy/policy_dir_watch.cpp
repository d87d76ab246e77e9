#include "policy/policy_dir_watch.h"

#include <sys/inotify.h>

namespace palisade {

namespace {
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                           IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
}

PolicyDirWatch::PolicyDirWatch(std::string dir) : dir_(std::move(dir)) { ensureWatched(); }

bool PolicyDirWatch::ensureWatched() {
    if (wd_ >= 0) return false;
    wd_ = inotify_.add(dir_, kMask);
    return wd_ >= 0;
}

bool PolicyDirWatch::drain() {
    bool changed = false;
    for (const auto& e : inotify_.read()) {
        if (e.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
            if (e.mask & IN_IGNORED) wd_ = -1;  // the directory went away
            changed = true;
        } else if (e.wd == wd_ || (e.mask & IN_Q_OVERFLOW)) {
            changed = true;
        }
    }
    return ensureWatched() || changed;
}

}  // namespace palisade
