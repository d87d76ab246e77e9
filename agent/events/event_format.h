// Ring buffer records and agent happenings as docs/reference/events-and-metrics.md JSON (ECS field
// names).
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
    // The policy names behind the record's epid.
    const std::vector<std::string>* policies = nullptr;
    const Container* peer =
        nullptr;  // by pal_net_event.peer_cgroup (docs/reference/enforcement.md#inter-container)
    // By pal_net_event.fqdn: the toFQDNs selector the destination was learned for
    // (docs/reference/enforcement.md#fqdn).
    const std::string* fqdn = nullptr;
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

// palisade.mechanism and event.action: hookMechanism() and hookAction() of
// datapath/hooks.h.
const char* verdictName(uint8_t verdict);
// A toFQDNs selector as events and status show it: its text, or "selector <id>" when this
// agent did not compile it (`name` null).
std::string fqdnSelectorText(const std::string* name, uint64_t id);
const char* reasonName(uint8_t reason);

// Kernel records as JSON lines (no newline), written directly (events/event.h).
// A PAL_EVENT_NET or PAL_EVENT_SOCKET record.
std::string formatNetEvent(const pal_net_event& e, const EventContext& ctx, const Clock& clock);
// A PAL_EVENT_EXEC record: process.executable, file.{path,mode,uid,gid} and
// palisade.exec.{privileges,raised,euid,egid,capabilities,no_new_privs}.
std::string formatExecEvent(const pal_exec_event& e, const EventContext& ctx, const Clock& clock);
// A PAL_EVENT_DNS record (fqdn.learnedEvents): event.action dns-learned, palisade.fqdn and
// .count, dns.question.name and dns.resolved_ip (the first PAL_DNS_EVENT_ADDRS).
std::string formatDnsEvent(const pal_dns_event& e, const EventContext& ctx, const Clock& clock);
// Any ring buffer record, by its header's type; empty for a short or unknown one.
std::string formatRecord(const void* data, size_t size, const EventContext& ctx,
                         const Clock& clock);

// "CAP_NET_RAW", ... for the bits set in `caps`.
std::vector<std::string> capabilityNames(uint64_t caps);

// An event raised by the agent itself (agent-ready, policy-applied, ...).
nlohmann::json agentEvent(const std::string& action, const Clock& clock,
                          const nlohmann::json& palisadeFields = nlohmann::json::object());

}  // namespace palisade
