// Coalesces a burst of notifications into one action: due once `quiet` has
// passed since the last notice, or `maxDelay` since the first, whichever is
// sooner (a steady trickle cannot postpone the action forever).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

namespace palisade {

class Debounce {
  public:
    using Clock = std::chrono::steady_clock;

    Debounce(Clock::duration quiet, Clock::duration maxDelay) : quiet_(quiet), max_(maxDelay) {}

    void notice(Clock::time_point now) {
        if (!pending_) first_ = now;
        pending_ = true;
        last_ = now;
    }
    bool pending() const { return pending_; }
    std::optional<Clock::time_point> dueAt() const {
        if (!pending_) return std::nullopt;
        return std::min(last_ + quiet_, first_ + max_);
    }
    // True (and reset) when the action is due.
    bool take(Clock::time_point now) {
        if (!pending_ || now < std::min(last_ + quiet_, first_ + max_)) return false;
        pending_ = false;
        return true;
    }

  private:
    Clock::duration quiet_, max_;
    bool pending_ = false;
    Clock::time_point first_{}, last_{};
};

}  // namespace palisade
