#include "daemon/debounce.h"

#include <gtest/gtest.h>

namespace palisade {
namespace {

using namespace std::chrono_literals;
using Clock = Debounce::Clock;

TEST(Debounce, DueAfterQuietPeriod) {
    Debounce d(20ms, 100ms);
    const auto t0 = Clock::time_point{} + 1s;
    EXPECT_FALSE(d.take(t0));
    d.notice(t0);
    EXPECT_TRUE(d.pending());
    EXPECT_FALSE(d.take(t0 + 19ms));
    EXPECT_TRUE(d.take(t0 + 20ms));
    EXPECT_FALSE(d.pending());
    EXPECT_FALSE(d.take(t0 + 40ms));
}

TEST(Debounce, BurstIsCoalescedAndBoundedByMaxDelay) {
    Debounce d(20ms, 100ms);
    const auto t0 = Clock::time_point{} + 1s;
    for (int i = 0; i < 10; i++) d.notice(t0 + i * 15ms);  // never quiet for 20 ms
    EXPECT_EQ(*d.dueAt(), t0 + 100ms);
    EXPECT_FALSE(d.take(t0 + 99ms));
    EXPECT_TRUE(d.take(t0 + 100ms));
}

}  // namespace
}  // namespace palisade
