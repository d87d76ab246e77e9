#include "datapath/fqdn_maps.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "datapath/map_keys.h"

namespace palisade {
namespace {

// Deletes `key`, unless the programs renewed it since it was read: then it goes back.
void deleteUnlessRenewed(int fd, const pal_fqdn_addr_key& key, uint64_t nowNs) {
    pal_fqdn_addr value{};
    if (bpf_map_lookup_and_delete_elem(fd, &key, &value) != 0) {
        bpf_map_delete_elem(fd, &key);  // kernels before 5.14: no lookup-and-delete of a hash
        return;
    }
    for (const pal_fqdn_slot& slot : value.slot) {
        if (slot.selector && slot.expires_ns >= nowNs) {
            bpf_map_update_elem(fd, &key, &value, BPF_NOEXIST);
            return;
        }
    }
}

}  // namespace

uint64_t bpfClockNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

FqdnSweep sweepFqdnAddresses(int addrsFd, int useFd, int queriesFd,
                             const std::set<uint64_t>& containers, uint64_t nowNs) {
    FqdnSweep out;
    std::map<uint64_t, uint64_t> held;
    for (const pal_fqdn_addr_key& key : keysOf<pal_fqdn_addr_key>(addrsFd)) {
        pal_fqdn_addr value{};
        if (bpf_map_lookup_elem(addrsFd, &key, &value) != 0) continue;
        const bool known = containers.count(key.cgroup_id) > 0;
        std::vector<FqdnLearned> live;
        uint64_t lastExpiry = 0;
        for (const pal_fqdn_slot& slot : value.slot) {
            if (!slot.selector) continue;
            lastExpiry = std::max<uint64_t>(lastExpiry, slot.expires_ns);
            if (!known || slot.expires_ns < nowNs) continue;
            FqdnLearned l;
            l.cgroupId = key.cgroup_id;
            l.address.family = key.family;
            std::memcpy(l.address.bytes.data(), key.addr, 16);
            l.selector = slot.selector;
            l.secondsLeft = (slot.expires_ns - nowNs) / 1'000'000'000ULL;
            live.push_back(l);
        }
        if (!known) {
            bpf_map_delete_elem(addrsFd, &key);
            out.removed++;
            continue;
        }
        if (live.empty() && lastExpiry + kFqdnSweepGraceNs < nowNs) {
            deleteUnlessRenewed(addrsFd, key, nowNs);
            out.removed++;
            continue;
        }
        held[key.cgroup_id]++;
        out.live.insert(out.live.end(), live.begin(), live.end());
    }
    std::map<uint64_t, uint32_t> pending;
    for (const pal_dns_query_key& key : keysOf<pal_dns_query_key>(queriesFd)) {
        pal_dns_query q{};
        if (bpf_map_lookup_elem(queriesFd, &key, &q) != 0) continue;
        if (!containers.count(key.cgroup_id) || q.sent_ns + PAL_DNS_QUERY_TIMEOUT_NS < nowNs) {
            bpf_map_delete_elem(queriesFd, &key);
            continue;
        }
        pending[key.cgroup_id]++;
    }
    for (uint64_t cgid : keysOf<uint64_t>(useFd)) {
        pal_fqdn_use use{};
        if (bpf_map_lookup_elem(useFd, &cgid, &use) != 0) continue;
        if (!containers.count(cgid)) {
            bpf_map_delete_elem(useFd, &cgid);
            continue;
        }
        out.refused[cgid] = use.refused;
        if (use.addresses == held[cgid] && use.pending == pending[cgid]) continue;
        use.addresses = held[cgid];
        use.pending = pending[cgid];
        bpf_map_update_elem(useFd, &cgid, &use, BPF_EXIST);
    }
    return out;
}

}  // namespace palisade
