#include "daemon/event_pump.h"

#include "daemon/container_inventory.h"
#include "daemon/generation_control.h"
#include "palisade/abi.h"

namespace palisade {

void EventPump::publish(const Event& event) {
    bus_.publish(event);
    emitted_++;
}

nlohmann::json EventPump::agentEvent(const std::string& action,
                                     const nlohmann::json& fields) const {
    return palisade::agentEvent(action, clock_, fields);
}

nlohmann::json EventPump::containerEvent(const std::string& action, const Container& c) const {
    auto j = agentEvent(action, {{"cgroup", c.cgroupPath}, {"cgroupId", c.cgroupId}});
    j["container"] = {{"id", c.id}, {"name", c.name}, {"runtime", c.runtime}};
    return j;
}

void EventPump::onRecord(const void* data, size_t size, const ContainerInventory& inventory,
                         const GenerationControl& generations) {
    if (size < sizeof(pal_event_header)) return;
    const auto* h = static_cast<const pal_event_header*>(data);
    EventContext ctx;
    ctx.container = inventory.find(h->cgroup_id);
    ctx.policies = generations.policiesOf(h->epid);
    if (h->type == PAL_EVENT_NET && size >= sizeof(pal_net_event)) {
        const auto* net = static_cast<const pal_net_event*>(data);
        if (net->peer_cgroup) ctx.peer = inventory.find(net->peer_cgroup);
        if (net->fqdn) ctx.fqdn = generations.fqdnNameOf(net->fqdn);
    }
    if (h->type == PAL_EVENT_DNS && size >= sizeof(pal_dns_event)) {
        ctx.fqdn = generations.fqdnNameOf(static_cast<const pal_dns_event*>(data)->selector);
    }
    if (std::string line = formatRecord(data, size, ctx, clock_); !line.empty()) {
        publish(Event(std::move(line)));
    }
}

void EventPump::reportSuppressed(const std::map<uint64_t, uint64_t>& totals,
                                 const ContainerInventory& inventory, bool baselineOnly) {
    for (const auto& [cgid, total] : totals) {
        auto seen = suppressedSeen_.find(cgid);
        // A bucket the LRU map evicted and created anew counts from 0 again.
        const uint64_t before =
            seen == suppressedSeen_.end() || seen->second > total ? 0 : seen->second;
        if (baselineOnly || total == before) continue;
        const uint64_t count = total - before;
        suppressed_ += count;
        // A container's security events have a bucket of their own (abi.h).
        const uint64_t container = cgid & ~PAL_RATELIMIT_SECURITY;
        const Container* c = inventory.find(container);
        nlohmann::json event = c ? containerEvent("events-suppressed", *c)
                                 : agentEvent("events-suppressed", {{"cgroupId", container}});
        event["palisade"]["count"] = count;
        event["palisade"]["class"] = cgid & PAL_RATELIMIT_SECURITY ? "security" : "network";
        publish(event);
    }
    suppressedSeen_ = totals;
}

}  // namespace palisade
