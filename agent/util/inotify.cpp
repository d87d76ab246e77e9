#include "util/inotify.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace palisade {

Inotify::Inotify() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "inotify_init1");
}

Inotify::~Inotify() = default;

int Inotify::add(const std::string& path, uint32_t mask) {
    return inotify_add_watch(fd_.get(), path.c_str(), mask);
}

void Inotify::remove(int wd) { inotify_rm_watch(fd_.get(), wd); }

std::vector<InotifyEvent> Inotify::read() {
    std::vector<InotifyEvent> out;
    alignas(inotify_event) char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
        if (n <= 0) return out;  // EAGAIN: drained
        for (char* p = buf; p < buf + n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(p);
            out.push_back({e->wd, e->mask, e->len ? std::string(e->name) : std::string()});
            p += sizeof(inotify_event) + e->len;
        }
    }
}

}  // namespace palisade
