// A thin RAII wrapper over inotify(7) for the agent's poll loop: the policy
// drop directory and the cgroup tree are watched with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/fd.h"

namespace palisade {

struct InotifyEvent {
    int wd = -1;
    uint32_t mask = 0;  // IN_* bits
    std::string name;   // the entry inside the watched directory ("" for the directory itself)
};

class Inotify {
  public:
    Inotify();  // non-blocking, close-on-exec; throws std::system_error
    ~Inotify();
    Inotify(const Inotify&) = delete;
    Inotify& operator=(const Inotify&) = delete;

    int fd() const { return fd_.get(); }
    // Adds (or updates) a watch; returns its descriptor, or -1 with errno set.
    int add(const std::string& path, uint32_t mask);
    void remove(int wd);
    // Everything queued right now (empty when nothing is).
    std::vector<InotifyEvent> read();

  private:
    Fd fd_;
};

}  // namespace palisade
