#include "daemon/watchdog.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstring>

#include "util/errno_text.h"

namespace palisade {

std::chrono::microseconds Watchdog::pingInterval(std::chrono::microseconds timeout) {
    return timeout / 2;
}

Watchdog Watchdog::fromEnvironment() {
    uint64_t usec = 0;
    int r = sd_watchdog_enabled(0, &usec);
    if (r < 0) spdlog::warn("ignoring WATCHDOG_USEC: {}", errnoText(r));
    if (r <= 0) usec = 0;
    Watchdog w(std::chrono::microseconds(usec),
               [](const std::string& state) { sd_notify(0, state.c_str()); });
    if (w.enabled()) {
        spdlog::info("systemd watchdog: {} ms timeout, ping every {} ms", usec / 1000,
                     w.interval().count() / 1000);
    }
    return w;
}

Watchdog::Watchdog(std::chrono::microseconds timeout, Notify notify)
    : interval_(pingInterval(timeout)), notify_(std::move(notify)) {}

void Watchdog::tick(Clock::time_point now) {
    if (!enabled() || now < nextPing_) return;
    notify_("WATCHDOG=1");
    nextPing_ = now + interval_;
}

}  // namespace palisade
