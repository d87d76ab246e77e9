// The LPM entries of one policy set: every toCIDR and except prefix, each with
// the union of the port ranges that the rules covering it allow there. The same for the
// addresses of its bind rules, in entries of their own.
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

// An egress rule's toCIDR and except, or a bind rule's addresses and except.
struct CidrRule {
    const std::vector<Cidr>* cidrs;
    const std::vector<Cidr>* except;
    std::vector<pal_port_range> ranges;  // rulePortRanges(the rule's ports)
    SourceLocation where;                // the rule's
};

struct PrefixEntry {
    bool v6 = false;
    std::array<uint8_t, 16> addr{};
    uint8_t prefixLen = 0;
    // The normalised union; empty: nothing allowed. Shared by every entry that
    // the same rules cover (a long CIDR list is one rule).
    std::shared_ptr<const std::vector<pal_port_range>> ranges;
    uint32_t flags = 0;                   // enum pal_lpm_flags
    const CidrRule* firstRule = nullptr;  // for error locations
};

// For a destination d, the most specific entry holding d then says exactly what
// the rules allow for d: d is inside a rule's cidrs and outside its excepts iff
// that entry is, because every CIDR and except is itself an entry (so any of
// them that holds d also holds the most specific entry).
std::vector<PrefixEntry> buildPrefixTable(const std::vector<CidrRule>& rules);

}  // namespace palisade
