// Ring buffer records and agent happenings as SPEC §6 JSON (ECS field names).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "containers/container.h"

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

// What the agent knows about the subject of a kernel record.
struct EventContext {
    const Container* container = nullptr;  // by the record's cgroup id; null if unknown
    std::vector<std::string> policies;     // the policy names behind the record's epid
};

// Converts bpf_ktime_get_boot_ns() stamps to wall-clock time.
class Clock {
  public:
    Clock();  // samples CLOCK_REALTIME - CLOCK_BOOTTIME now
    std::string iso8601(uint64_t bootNs) const;
    std::string now() const;

  private:
    int64_t offsetNs_;
};

// "2026-11-23T10:00:00.123456789Z"
std::string iso8601FromEpochNs(int64_t epochNs);

const char* hookMechanism(uint8_t hook);  // "cgroup/connect6"
const char* verdictName(uint8_t verdict);
const char* reasonName(uint8_t reason);

// A PAL_EVENT_NET or PAL_EVENT_SOCKET record.
nlohmann::json formatNetEvent(const pal_net_event& e, const EventContext& ctx, const Clock& clock);

// An event raised by the agent itself (agent-ready, policy-applied, ...).
nlohmann::json agentEvent(const std::string& action, const Clock& clock,
                          const nlohmann::json& palisadeFields = nlohmann::json::object());

}  // namespace palisade
