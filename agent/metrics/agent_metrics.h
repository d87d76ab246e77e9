// What the agent exports at /metrics (docs/reference/configuration.md metrics.listen), rendered
// from a snapshot of its state on the agent's own thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datapath/datapath.h"
#include "kubernetes/pod_source.h"
#include "metrics/exposition.h"

namespace palisade {

struct AgentMetrics {
    VerdictCounters counters;
    std::vector<AttachedProgram> programs;  // with run counts
    std::optional<bool> bpfStatsEnabled;    // kernel.bpf_stats_enabled; nullopt: unknown
    uint64_t eventsEmitted = 0;             // written to the sinks
    uint64_t eventsSuppressed = 0;          // held back by events.rateLimit
    uint64_t subscriberDrops = 0;           // `events --follow` clients that fell behind
    uint64_t containers = 0;
    uint64_t containersUnaddressed = 0;         // with a process, addresses unreadable
    uint64_t containersAddressConflicts = 0;    // holding another container's address
    uint64_t containersMetadataUnreadable = 0;  // runtime metadata unreadable
    uint64_t policies = 0;
    uint64_t generation = 0;
    std::map<std::string, bool> kernelFeatures;  // probed at start (docs/kernels.md)
    const Histogram* reloadSeconds = nullptr;
    // The API server's pods and namespaces (docs/runtimes/kubernetes.md); nullopt: off.
    std::optional<KubernetesCounters> kubernetes;
    // Egress by DNS name (docs/reference/enforcement.md#fqdn), as of the last sweep.
    uint64_t fqdnSelectors = 0;  // toFQDNs names and patterns in force
    uint64_t fqdnAddresses = 0;  // (container, address, selector) learned and in force
};

// The page: palisade_verdicts_total{action,mechanism,verdict,reason},
// palisade_events_{emitted,suppressed,dropped}_total, palisade_containers,
// palisade_containers_addresses_unreadable, palisade_containers_metadata_unreadable,
// palisade_policies, palisade_generation, palisade_kernel_feature{feature},
// palisade_reload_duration_seconds, palisade_bpf_prog_runs_total / _run_seconds_total,
// palisade_bpf_stats_enabled, and with kubernetes on palisade_kubernetes_connected,
// palisade_kubernetes_pods, palisade_kubernetes_lists_total,
// palisade_kubernetes_errors_total; palisade_dns_answers_total{result},
// palisade_fqdn_addresses_total{result}, palisade_fqdn_selectors, palisade_fqdn_addresses.
std::string renderAgentMetrics(const AgentMetrics& m);

// kernel.bpf_stats_enabled from /proc/sys; nullopt when it cannot be read.
std::optional<bool> bpfStatsEnabled();

}  // namespace palisade
