// The systemd watchdog: interval from WATCHDOG_USEC, pings from the main loop.
#include "daemon/watchdog.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace palisade {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Sets the watchdog variables for the test's duration, as systemd would.
class WatchdogEnv {
  public:
    WatchdogEnv(const char* usec, const std::string& pid) {
        setenv("WATCHDOG_USEC", usec, 1);
        setenv("WATCHDOG_PID", pid.c_str(), 1);
    }
    ~WatchdogEnv() {
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
    }
};

TEST(Watchdog, PingsAtHalfTheTimeout) {
    EXPECT_EQ(Watchdog::pingInterval(seconds(30)), seconds(15));
    EXPECT_EQ(Watchdog::pingInterval(microseconds(3)), microseconds(1));
    EXPECT_EQ(Watchdog::pingInterval(microseconds(0)), microseconds(0));
}

TEST(Watchdog, PingsOnFirstTickThenOncePerInterval) {
    std::vector<std::string> sent;
    Watchdog w(seconds(10), [&](const std::string& s) { sent.push_back(s); });
    ASSERT_TRUE(w.enabled());
    const auto t0 = Watchdog::Clock::time_point{} + seconds(100);
    w.tick(t0);
    ASSERT_EQ(sent, std::vector<std::string>{"WATCHDOG=1"});
    // The loop wakes every 100 ms: no ping until 5 s have passed.
    for (auto t = t0 + milliseconds(100); t < t0 + seconds(5); t += milliseconds(100)) w.tick(t);
    EXPECT_EQ(sent.size(), 1u);
    w.tick(t0 + seconds(5));
    EXPECT_EQ(sent.size(), 2u);
    w.tick(t0 + seconds(7));
    EXPECT_EQ(sent.size(), 2u);
    w.tick(t0 + seconds(10));
    EXPECT_EQ(sent.size(), 3u);
}

TEST(Watchdog, DisabledNeverPings) {
    int pings = 0;
    Watchdog w(microseconds(0), [&](const std::string&) { pings++; });
    EXPECT_FALSE(w.enabled());
    w.tick(Watchdog::Clock::now());
    w.tick(Watchdog::Clock::now() + seconds(3600));
    EXPECT_EQ(pings, 0);
}

TEST(Watchdog, ReadsTimeoutFromSystemdEnvironment) {
    WatchdogEnv env("30000000", std::to_string(getpid()));
    auto w = Watchdog::fromEnvironment();
    EXPECT_TRUE(w.enabled());
    EXPECT_EQ(w.interval(), seconds(15));
}

TEST(Watchdog, IgnoresTimeoutMeantForAnotherProcess) {
    WatchdogEnv env("30000000", std::to_string(getpid() + 1));
    EXPECT_FALSE(Watchdog::fromEnvironment().enabled());
}

TEST(Watchdog, DisabledWithoutSystemd) {
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    EXPECT_FALSE(Watchdog::fromEnvironment().enabled());
}

TEST(Watchdog, InvalidTimeoutIsIgnored) {
    WatchdogEnv env("soon", std::to_string(getpid()));
    EXPECT_FALSE(Watchdog::fromEnvironment().enabled());
}

}  // namespace
}  // namespace palisade
