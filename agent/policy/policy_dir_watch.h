// Watches the policy drop directory (docs/reference/configuration.md policyDir, §4.8): files
// written and closed, moved in or out (`mv` into the directory), deleted, and the Kubernetes
// ConfigMap volume's `..data` symlink swap all count as a change.
#pragma once

#include <string>

#include "util/inotify.h"

namespace palisade {

class PolicyDirWatch {
  public:
    explicit PolicyDirWatch(std::string dir);

    int fd() const { return inotify_.fd(); }
    // Handles what is queued; true when the directory's content may have
    // changed. A directory that does not exist (yet) is watched from the
    // moment it appears: call drain() periodically and it retries.
    bool drain();

  private:
    bool ensureWatched();  // true when the watch was (re)established just now

    std::string dir_;
    Inotify inotify_;
    int wd_ = -1;
};

}  // namespace palisade
