// The systemd service watchdog (sd_watchdog_enabled(3)). When the unit sets
// WatchdogSec=, systemd passes WATCHDOG_USEC and restarts the service if no
// WATCHDOG=1 arrives within it. The daemon's main loop calls tick() on every
// wake-up, so a loop that hangs stops the pings and gets the agent restarted
// (enforcement stays in force meanwhile: the programs are pinned,
// docs/reference/state-and-lifecycle.md#stop-and-restart).
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace palisade {

class Watchdog {
  public:
    using Clock = std::chrono::steady_clock;
    using Notify = std::function<void(const std::string& state)>;

    // Half the timeout, as sd_watchdog_enabled(3) advises, so that one late
    // wake-up of the loop does not miss the deadline; 0 when `timeout` is 0.
    static std::chrono::microseconds pingInterval(std::chrono::microseconds timeout);

    // Reads WATCHDOG_USEC (and WATCHDOG_PID) of this process; disabled when
    // they are unset or meant for another process. Pings go to sd_notify().
    static Watchdog fromEnvironment();

    // timeout 0: disabled, tick() never notifies.
    Watchdog(std::chrono::microseconds timeout, Notify notify);

    bool enabled() const { return interval_.count() > 0; }
    std::chrono::microseconds interval() const { return interval_; }

    // Sends WATCHDOG=1 when an interval has passed since the last ping (the
    // first tick always pings).
    void tick(Clock::time_point now);

  private:
    std::chrono::microseconds interval_;
    Notify notify_;
    Clock::time_point nextPing_{};
};

}  // namespace palisade
