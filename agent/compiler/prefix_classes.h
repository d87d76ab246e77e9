// The node's prefixes: every toCIDR, except and bind address of the rules in force, once,
// each with its class, the rules that hold it and how (docs/prefix-classes.md).
#pragma once

#include <array>
#include <cstdint>
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

// How rule `rule` (an index into the rules) holds a prefix: kInside, kInsideExcept
// (inside one of its CIDRs and one of its excepts) or kExceptOnly.
struct RuleHold {
    uint32_t rule;
    uint8_t how;
    static constexpr uint8_t kInside = 1;
    static constexpr uint8_t kExceptOnly = 2;
    static constexpr uint8_t kInsideExcept = kInside | kExceptOnly;
};

struct PrefixClasses {
    struct Prefix {
        bool v6 = false;
        std::array<uint8_t, 16> addr{};
        uint8_t prefixLen = 0;
        uint32_t cls = 0;  // index into classes
    };
    std::vector<Prefix> prefixes;  // by family, address, then length
    // Each class's holds, by rule index. Prefixes whose rules hold them the same way
    // share one class: a long CIDR list is one class however many policy sets use it.
    std::vector<std::vector<RuleHold>> classes;
    // Each class's parent: the class of the prefixes on the node that most closely contain
    // its own (of another class), where a policy set's entry stands for this class's when
    // the set's rules hold both alike; kNoParent when nothing contains them, when they lie
    // in prefixes of different classes, or when the walk from a class up through its
    // parents would be longer than PAL_CLASS_WALK classes (docs/prefix-classes.md#the-walk).
    std::vector<uint32_t> parents;
    static constexpr uint32_t kNoParent = UINT32_MAX;
};

// For a destination d, the most specific prefix holding d then says exactly how every
// rule holds d: a rule's CIDR or except holds d iff it holds that prefix, because every
// CIDR and except is itself a prefix (so any of them that holds d also holds the most
// specific one).
PrefixClasses classifyPrefixes(const std::vector<CidrRule>& rules);

}  // namespace palisade
