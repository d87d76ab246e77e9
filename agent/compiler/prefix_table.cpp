#include "compiler/prefix_table.h"

#include <map>
#include <tuple>

#include "compiler/port_sets.h"

namespace palisade {
namespace {

struct Marker {
    size_t rule;  // index into the rules
    bool except;
};

using PrefixKey = std::tuple<bool, std::array<uint8_t, 16>, uint8_t>;  // v6, addr, length

bool contains(const PrefixKey& outer, const PrefixKey& inner) {
    const auto& [v6a, a, lenA] = outer;
    const auto& [v6b, b, lenB] = inner;
    if (v6a != v6b || lenA > lenB) return false;
    for (int bit = 0; bit < lenA; bit++) {
        uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
        if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) return false;
    }
    return true;
}

}  // namespace

std::vector<PrefixEntry> buildPrefixTable(const std::vector<CidrRule>& rules) {
    // Sorted by (family, address, length): a prefix is followed by every prefix
    // it contains, so a stack holds exactly the entries containing the current one.
    std::map<PrefixKey, std::vector<Marker>> prefixes;
    for (size_t i = 0; i < rules.size(); i++) {
        for (const auto& c : rules[i].rule->toCIDR) {
            prefixes[{c.v6, c.addr, c.prefixLen}].push_back({i, false});
        }
        for (const auto& c : rules[i].rule->except) {
            prefixes[{c.v6, c.addr, c.prefixLen}].push_back({i, true});
        }
    }

    std::vector<PrefixEntry> out;
    std::vector<std::pair<PrefixKey, const std::vector<Marker>*>> stack;
    std::vector<uint8_t> state(rules.size());  // bit 1: inside a CIDR, bit 2: inside an except
    for (const auto& [key, markers] : prefixes) {
        while (!stack.empty() && !contains(stack.back().first, key)) stack.pop_back();
        stack.emplace_back(key, &markers);

        std::fill(state.begin(), state.end(), 0);
        for (const auto& [k, ms] : stack) {
            for (const auto& m : *ms) state[m.rule] |= m.except ? 2 : 1;
        }
        PrefixEntry e;
        std::tie(e.v6, e.addr, e.prefixLen) = key;
        std::vector<pal_port_range> allowed;
        for (size_t i = 0; i < rules.size(); i++) {
            if (state[i] == 1) {
                allowed.insert(allowed.end(), rules[i].ranges.begin(), rules[i].ranges.end());
                if (!e.firstRule) e.firstRule = rules[i].rule;
            } else if (state[i] == 3) {
                e.flags |= PAL_LPM_EXCEPT;
            }
        }
        e.ranges = normalizePortRanges(allowed);
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace palisade
