// The addresses containers learned from DNS answers (docs/reference/enforcement.md#fqdn), as
// the programs keep them in pal_fqdn_addrs and pal_fqdn_use: read, and swept of what ran out.
// Works on map file descriptors, like MapWriter.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "containers/netns_addresses.h"

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

struct FqdnLearned {
    uint64_t cgroupId = 0;
    IpAddress address;
    uint64_t selector = 0;  // a MapEntries::fqdnNames id
    uint64_t secondsLeft = 0;
};

struct FqdnSweep {
    std::vector<FqdnLearned> live;         // what is in force, by container and address
    std::map<uint64_t, uint64_t> refused;  // by container: addresses refused, ever
    size_t removed = 0;                    // entries deleted by this sweep
};

// An address whose every selector's time ran out is deleted this long after, not at once: a
// fresh answer that renews it in place meanwhile would otherwise be deleted with it.
constexpr uint64_t kFqdnSweepGraceNs = 60'000'000'000ULL;

// Deletes the learned addresses whose every selector's time ran out more than
// kFqdnSweepGraceNs ago (at `nowNs`, on the programs' clock: CLOCK_MONOTONIC) and those of
// containers not in `containers`, and the noted queries older than PAL_DNS_QUERY_TIMEOUT_NS;
// sets each container's counts in pal_fqdn_use to what is left. The programs may count
// meanwhile: a count can be off by what they did during the sweep, until the next one.
FqdnSweep sweepFqdnAddresses(int addrsFd, int useFd, int queriesFd,
                             const std::set<uint64_t>& containers, uint64_t nowNs);

// CLOCK_MONOTONIC in nanoseconds: bpf_ktime_get_ns().
uint64_t bpfClockNs();

}  // namespace palisade
