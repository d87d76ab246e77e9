// util/fd.h: an Fd closes its descriptor exactly once, and moves and releases
// hand the ownership on.
#include "util/fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "util/errno_text.h"

namespace palisade {
namespace {

bool isOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

int newFd() {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << errnoText(errno);
    return fd;
}

TEST(Fd, ClosesInTheDestructor) {
    int raw = newFd();
    {
        Fd fd(raw);
        EXPECT_TRUE(fd);
        EXPECT_EQ(fd.get(), raw);
        EXPECT_TRUE(isOpen(raw));
    }
    EXPECT_FALSE(isOpen(raw));
}

TEST(Fd, EmptyAndNegativeHoldNothing) {
    Fd none;
    EXPECT_FALSE(none);
    EXPECT_EQ(none.get(), -1);
    Fd failed(-1);  // open(2) that failed
    EXPECT_FALSE(failed);
}

// The number of a closed descriptor is handed out again at once: a second
// close would close somebody else's file.
TEST(Fd, ClosesOnceWhenMoved) {
    int raw = newFd();
    Fd from(raw);
    Fd to(std::move(from));
    EXPECT_FALSE(from);
    EXPECT_EQ(to.get(), raw);
    to.reset();
    EXPECT_FALSE(isOpen(raw));
    int reused = newFd();
    EXPECT_EQ(reused, raw);  // the lowest free number
    from = Fd();             // destroying an empty Fd closes nothing
    from.reset();
    EXPECT_TRUE(isOpen(reused));
    close(reused);
}

TEST(Fd, MoveAssignmentClosesTheOldOne) {
    int a = newFd();
    int b = newFd();
    Fd fa(a);
    Fd fb(b);
    fa = std::move(fb);
    EXPECT_FALSE(isOpen(a));
    EXPECT_TRUE(isOpen(b));
    EXPECT_EQ(fa.get(), b);
    EXPECT_FALSE(fb);
}

TEST(Fd, SelfMoveKeepsTheDescriptor) {
    int raw = newFd();
    Fd fd(raw);
    Fd& same = fd;
    fd = std::move(same);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(isOpen(raw));
}

TEST(Fd, ReleaseGivesUpOwnership) {
    int raw = newFd();
    int released = -1;
    {
        Fd fd(raw);
        released = fd.release();
        EXPECT_FALSE(fd);
    }
    EXPECT_EQ(released, raw);
    EXPECT_TRUE(isOpen(raw));
    close(raw);
}

TEST(Fd, ResetTakesANewDescriptor) {
    int a = newFd();
    int b = newFd();
    Fd fd(a);
    fd.reset(b);
    EXPECT_FALSE(isOpen(a));
    EXPECT_EQ(fd.get(), b);
    fd.reset(b);  // the same one again: kept, not closed
    EXPECT_TRUE(isOpen(b));
}

TEST(FilePtr, ClosesTheStream) {
    FilePtr f(std::fopen("/dev/null", "re"));
    ASSERT_TRUE(f);
    const int raw = fileno(f.get());
    f.reset();
    EXPECT_FALSE(isOpen(raw));
}

TEST(ErrnoText, BothSignConventions) {
    EXPECT_EQ(errnoText(ENOENT), "No such file or directory");
    EXPECT_EQ(errnoText(-ENOENT), "No such file or directory");
    EXPECT_EQ(errnoText(EPERM), "Operation not permitted");
}

}  // namespace
}  // namespace palisade
