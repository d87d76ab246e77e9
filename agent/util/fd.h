// Owned file descriptors, stdio streams and directory streams: the one way the agent holds one, so
// that a throw between open and close can never leak it.
#pragma once

#include <dirent.h>

#include <cstdio>
#include <memory>
#include <utility>

namespace palisade {

// A move-only owner of a file descriptor, closed (once) by the destructor or
// by reset(). Negative values mean "none", so the result of open(2),
// socket(2), ... can be wrapped before it is checked.
class Fd {
  public:
    Fd() noexcept = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    // Gives the descriptor up without closing it: the caller owns it now.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    // Closes the descriptor held, if any, and holds `fd` instead.
    void reset(int fd = -1) noexcept;

  private:
    int fd_ = -1;
};

struct FileCloser {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
// A stdio stream, closed by its destructor.
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct DirCloser {
    void operator()(DIR* d) const noexcept { closedir(d); }
};
// An opendir(3) stream, closed by its destructor.
using DirPtr = std::unique_ptr<DIR, DirCloser>;

}  // namespace palisade
