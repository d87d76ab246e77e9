#include "metrics/agent_metrics.h"

#include <fstream>

#include "datapath/hooks.h"
#include "events/event_format.h"

namespace palisade {

std::string renderAgentMetrics(const AgentMetrics& m) {
    Exposition out;
    out.family("palisade_verdicts_total", "counter",
               "Verdicts reached in the kernel, by action, hook, verdict and reason (counted "
               "whether or not an event was reported).");
    for (uint8_t h = 1; h < PAL_HOOK_MAX; h++) {
        for (uint8_t v = 0; v < PAL_VERDICT_MAX; v++) {
            for (uint8_t r = 0; r < PAL_REASON_MAX; r++) {
                const uint64_t n = m.counters.byReason[h][v][r];
                if (n == 0) continue;
                out.sample("palisade_verdicts_total",
                           {{"action", hookAction(h)},
                            {"mechanism", hookMechanism(h)},
                            {"verdict", verdictName(v)},
                            {"reason", reasonName(r)}},
                           n);
            }
        }
    }
    out.family("palisade_events_emitted_total", "counter", "Events written to the sinks.");
    out.sample("palisade_events_emitted_total", {}, m.eventsEmitted);
    out.family("palisade_events_suppressed_total", "counter",
               "Events held back in the kernel by events.rateLimit (reported in "
               "events-suppressed).");
    out.sample("palisade_events_suppressed_total", {}, m.eventsSuppressed);
    out.family("palisade_events_dropped_total", "counter",
               "Events lost: the ring buffer was full, or an events --follow subscriber fell "
               "behind.");
    out.sample("palisade_events_dropped_total", {{"where", "ringbuf"}}, m.counters.ringbufDrops);
    out.sample("palisade_events_dropped_total", {{"where", "subscriber"}}, m.subscriberDrops);
    out.family("palisade_containers", "gauge", "Containers found below cgroupRoot.");
    out.sample("palisade_containers", {}, m.containers);
    out.family("palisade_containers_addresses_unreadable", "gauge",
               "Containers whose addresses could not be read: inter-container rules do not know "
               "them.");
    out.sample("palisade_containers_addresses_unreadable", {}, m.containersUnaddressed);
    out.family("palisade_containers_address_conflicts", "gauge",
               "Containers whose network namespace holds another container's address: refused, "
               "the address stays its owner's.");
    out.sample("palisade_containers_address_conflicts", {}, m.containersAddressConflicts);
    out.family("palisade_containers_metadata_unreadable", "gauge",
               "Containers whose runtime metadata could not be read: selected by id and runtime "
               "only.");
    out.sample("palisade_containers_metadata_unreadable", {}, m.containersMetadataUnreadable);
    if (m.kubernetes) {
        out.family("palisade_kubernetes_connected", "gauge",
                   "1 while the pod and namespace watches of the API server are answered.");
        out.sample("palisade_kubernetes_connected", {}, uint64_t{m.kubernetes->connected});
        out.family("palisade_kubernetes_pods", "gauge", "Pods of this node the API server listed.");
        out.sample("palisade_kubernetes_pods", {}, m.kubernetes->pods);
        out.family("palisade_kubernetes_lists_total", "counter",
                   "Lists of pods and namespaces: the first ones, and again after 410 Gone.");
        out.sample("palisade_kubernetes_lists_total", {}, m.kubernetes->lists);
        out.family("palisade_kubernetes_errors_total", "counter",
                   "Failed requests to the API server and answers that could not be used.");
        out.sample("palisade_kubernetes_errors_total", {}, m.kubernetes->errors);
    }
    out.family("palisade_dns_answers_total", "counter",
               "DNS answers to containers whose policies have toFQDNs: that taught addresses, "
               "and that taught nothing (no matching query, malformed, truncated).");
    out.sample("palisade_dns_answers_total", {{"result", "learned"}}, m.counters.dnsAnswers);
    out.sample("palisade_dns_answers_total", {{"result", "ignored"}}, m.counters.dnsIgnored);
    out.family("palisade_fqdn_addresses_total", "counter",
               "Addresses taken from DNS answers for toFQDNs, and addresses refused because the "
               "container's budget (fqdn.perContainerAddresses) or the map was full.");
    out.sample("palisade_fqdn_addresses_total", {{"result", "learned"}}, m.counters.dnsLearned);
    out.sample("palisade_fqdn_addresses_total", {{"result", "refused"}}, m.counters.dnsRefused);
    out.family("palisade_dns_queries_unnoted_total", "counter",
               "DNS queries for toFQDNs names not noted because their container had 256 "
               "waiting for an answer already: their answers teach nothing.");
    out.sample("palisade_dns_queries_unnoted_total", {}, m.counters.dnsUnnoted);
    out.family("palisade_fqdn_selectors", "gauge", "toFQDNs names and patterns in force.");
    out.sample("palisade_fqdn_selectors", {}, m.fqdnSelectors);
    out.family("palisade_fqdn_addresses", "gauge",
               "Addresses learned from DNS and in force (per container and selector).");
    out.sample("palisade_fqdn_addresses", {}, m.fqdnAddresses);
    out.family("palisade_policies", "gauge", "Policies in force.");
    out.sample("palisade_policies", {}, m.policies);
    out.family("palisade_generation", "gauge", "The policy generation in force.");
    out.sample("palisade_generation", {}, m.generation);
    out.family("palisade_kernel_feature", "gauge",
               "What the kernel offered at start: 1 present, 0 missing (palisade status names "
               "the fallback in use).");
    for (const auto& [feature, have] : m.kernelFeatures) {
        out.sample("palisade_kernel_feature", {{"feature", feature}}, uint64_t{have});
    }
    if (m.reloadSeconds) {
        m.reloadSeconds->render(out, "palisade_reload_duration_seconds",
                                "From a policy change noticed (file watch or SIGHUP) to its "
                                "generation in force.");
    }
    out.family("palisade_bpf_stats_enabled", "gauge",
               "kernel.bpf_stats_enabled: program run counts and times are counted only while "
               "it is 1 (-1: unknown).");
    out.sample("palisade_bpf_stats_enabled", {},
               m.bpfStatsEnabled ? (*m.bpfStatsEnabled ? 1.0 : 0.0) : -1.0);
    out.family("palisade_bpf_prog_runs_total", "counter",
               "Runs of each attached program (bpf_prog_info.run_cnt).");
    for (const auto& p : m.programs) {
        out.sample("palisade_bpf_prog_runs_total", {{"program", p.name}, {"hook", p.hook}},
                   p.runCount);
    }
    out.family("palisade_bpf_prog_run_seconds_total", "counter",
               "Time spent in each attached program (bpf_prog_info.run_time_ns).");
    for (const auto& p : m.programs) {
        out.sample("palisade_bpf_prog_run_seconds_total", {{"program", p.name}, {"hook", p.hook}},
                   static_cast<double>(p.runTimeNs) / 1e9);
    }
    return out.text();
}

std::optional<bool> bpfStatsEnabled() {
    std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
    int value = 0;
    if (!(in >> value)) return std::nullopt;
    return value != 0;
}

}  // namespace palisade
