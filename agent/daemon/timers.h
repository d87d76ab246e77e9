// The daemon's periodic work and how long its main loop may sleep.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>

namespace palisade {

using SteadyClock = std::chrono::steady_clock;

// Due once every `period`; the first time one period after `start`.
class Periodic {
  public:
    Periodic(SteadyClock::duration period, SteadyClock::time_point start)
        : period_(period), next_(start + period) {}

    SteadyClock::time_point next() const { return next_; }
    // True (and the next one scheduled) when due. A late call does not make
    // up for the periods it missed.
    bool due(SteadyClock::time_point now) {
        if (now < next_) return false;
        next_ = now + period_;
        return true;
    }

  private:
    SteadyClock::duration period_;
    SteadyClock::time_point next_;
};

// Milliseconds until the earliest deadline (rounded up), within [0, maxMs].
inline int pollTimeoutMs(SteadyClock::time_point now,
                         std::initializer_list<std::optional<SteadyClock::time_point>> deadlines,
                         int maxMs) {
    int64_t ms = maxMs;
    for (const auto& d : deadlines) {
        if (!d) continue;
        ms = std::min<int64_t>(ms, std::chrono::ceil<std::chrono::milliseconds>(*d - now).count());
    }
    return static_cast<int>(std::clamp<int64_t>(ms, 0, maxMs));
}

}  // namespace palisade
