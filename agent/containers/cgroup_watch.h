// Notices container cgroups appearing and disappearing under cgroupRoot as they
// happen (inotify), so that a new container gets its policy within
// milliseconds instead of at the next periodic rescan
// (docs/reference/state-and-lifecycle.md#containers,
// docs/reference/state-and-lifecycle.md#stop-and-restart).
#pragma once

#include <map>
#include <string>

#include "util/inotify.h"

namespace palisade {

class CgroupWatch {
  public:
    // Watches cgroupRoot and every directory below it that may still hold
    // containers: container cgroups themselves (and what is nested in them) are
    // not watched, their parent reports their removal.
    explicit CgroupWatch(const std::string& cgroupRoot);

    int fd() const { return inotify_.fd(); }
    // Handles what is queued; true when a directory came or went (or events
    // were lost), i.e. the containers must be looked at again.
    bool drain();
    size_t watches() const { return paths_.size(); }

  private:
    void watchTree(const std::string& path, const std::string& relative, int depth);

    std::string root_;
    Inotify inotify_;
    std::map<int, std::pair<std::string, int>> paths_;  // wd -> (relative path, depth)
};

}  // namespace palisade
