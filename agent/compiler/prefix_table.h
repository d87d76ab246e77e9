// The LPM entries of one policy set: every toCIDR and except prefix, each with
// the union of the port ranges that the rules covering it allow there.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "policy/policy.h"

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

struct CidrRule {
    const EgressRule* rule;
    std::vector<pal_port_range> ranges;  // rulePortRanges(*rule)
};

struct PrefixEntry {
    bool v6 = false;
    std::array<uint8_t, 16> addr{};
    uint8_t prefixLen = 0;
    // The normalised union; empty: nothing allowed. Shared by every entry that
    // the same rules cover (a long CIDR list is one rule).
    std::shared_ptr<const std::vector<pal_port_range>> ranges;
    uint32_t flags = 0;                     // enum pal_lpm_flags
    const EgressRule* firstRule = nullptr;  // for error locations
};

// For a destination d, the most specific entry holding d then says exactly what
// the rules allow for d: d is inside a rule's toCIDR and outside its excepts iff
// that entry is, because every CIDR and except is itself an entry (so any of
// them that holds d also holds the most specific entry).
std::vector<PrefixEntry> buildPrefixTable(const std::vector<CidrRule>& rules);

}  // namespace palisade
