#include "util/fd.h"

#include <unistd.h>

namespace palisade {

void Fd::reset(int fd) noexcept {
    const int old = std::exchange(fd_, fd);
    // Linux releases the descriptor even when close() fails (EINTR included):
    // retrying could close one that another thread has just been given.
    if (old >= 0 && old != fd) ::close(old);
}

}  // namespace palisade
