// Everything the agent says goes out through here: its own events
// (container-started, policy-applied, ...) and the kernel's ring-buffer
// records, named with the container, the peer and the policies behind them.
// It also turns the kernel's per-container counts of events held back by
// events.rateLimit into events-suppressed events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "events/event.h"
#include "events/event_format.h"
#include "events/sinks.h"

namespace palisade {

class ContainerInventory;
class GenerationControl;
struct Container;

class EventPump {
  public:
    EventPump(EventBus& bus, const Clock& clock) : bus_(bus), clock_(clock) {}

    void publish(const Event& event);
    void publish(const nlohmann::json& event) { publish(Event::fromJson(event)); }
    // Hands what was published to the sinks now.
    void flush() { bus_.flush(); }

    // An agent event about one container.
    nlohmann::json containerEvent(const std::string& action, const Container& c) const;
    nlohmann::json agentEvent(const std::string& action,
                              const nlohmann::json& fields = nlohmann::json::object()) const;

    // One ring-buffer record (include/palisade/abi.h); records too short for
    // their type are dropped.
    void onRecord(const void* data, size_t size, const ContainerInventory& inventory,
                  const GenerationControl& generations);

    // `totals`: the kernel's monotonic count of suppressed events per bucket
    // (Datapath::suppressedEvents). Publishes events-suppressed with what grew
    // since the last call; with `baselineOnly`, only remembers the counts (an
    // earlier agent reported what adopted buckets hold).
    void reportSuppressed(const std::map<uint64_t, uint64_t>& totals,
                          const ContainerInventory& inventory, bool baselineOnly = false);

    uint64_t emitted() const { return emitted_; }
    uint64_t suppressed() const { return suppressed_; }

  private:
    EventBus& bus_;
    const Clock& clock_;
    uint64_t emitted_ = 0;
    uint64_t suppressed_ = 0;
    std::map<uint64_t, uint64_t> suppressedSeen_;  // totals last reported
};

}  // namespace palisade
