#include "compiler/prefix_table.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "compiler/port_sets.h"

namespace palisade {
namespace {

struct Marker {
    size_t rule;  // index into the rules
    bool except;
};

// A prefix's place in the table: by family, address, then length (a Cidr's
// position in its file plays no part, nor in Cidr's == and contains()).
bool before(const Cidr& a, const Cidr& b) {
    return std::tie(a.v6, a.addr, a.prefixLen) < std::tie(b.v6, b.addr, b.prefixLen);
}

}  // namespace

std::vector<PrefixEntry> buildPrefixTable(const std::vector<CidrRule>& rules) {
    // Sorted by (family, address, length): a prefix is followed by every prefix
    // it contains, so a stack holds exactly the entries containing the current one.
    std::vector<std::pair<Cidr, Marker>> marked;
    for (size_t i = 0; i < rules.size(); i++) {
        for (const auto& c : *rules[i].cidrs) marked.push_back({c, {i, false}});
        for (const auto& c : *rules[i].except) marked.push_back({c, {i, true}});
    }
    std::sort(marked.begin(), marked.end(),
              [](const auto& a, const auto& b) { return before(a.first, b.first); });

    // What an entry allows depends only on which rules hold it and how (the
    // state), and a long list gives many entries of the same state.
    struct Outcome {
        std::shared_ptr<const std::vector<pal_port_range>> ranges;
        uint32_t flags = 0;
        const CidrRule* firstRule = nullptr;
    };
    // Keyed by the state as bytes: std::string compares them with one memcmp
    // bounded by its sizes (a std::vector<uint8_t> key makes GCC 12 at -O3
    // warn, -Wstringop-overread, about a length it cannot bound).
    std::map<std::string, Outcome> outcomes;

    std::vector<PrefixEntry> out;
    std::vector<std::pair<Cidr, std::vector<Marker>>> stack;
    std::string state(rules.size(), 0);  // bit 1: inside a CIDR, bit 2: inside an except
    for (size_t at = 0; at < marked.size();) {
        const Cidr& key = marked[at].first;
        std::vector<Marker> markers;
        for (; at < marked.size() && marked[at].first == key; at++)
            markers.push_back(marked[at].second);
        while (!stack.empty() && !stack.back().first.contains(key)) stack.pop_back();
        stack.emplace_back(key, std::move(markers));

        std::fill(state.begin(), state.end(), 0);
        for (const auto& [k, ms] : stack) {
            for (const auto& m : ms) state[m.rule] |= m.except ? 2 : 1;
        }
        auto [it, fresh] = outcomes.try_emplace(state);
        Outcome& o = it->second;
        if (fresh) {
            std::vector<pal_port_range> allowed;
            for (size_t i = 0; i < rules.size(); i++) {
                if (state[i] == 1) {
                    allowed.insert(allowed.end(), rules[i].ranges.begin(), rules[i].ranges.end());
                    if (!o.firstRule) o.firstRule = &rules[i];
                } else if (state[i] == 3) {
                    o.flags |= PAL_LPM_EXCEPT;
                }
            }
            o.ranges =
                std::make_shared<const std::vector<pal_port_range>>(normalizePortRanges(allowed));
        }
        PrefixEntry& e = out.emplace_back();
        e.v6 = key.v6;
        e.addr = key.addr;
        e.prefixLen = key.prefixLen;
        e.ranges = o.ranges;
        e.flags = o.flags;
        e.firstRule = o.firstRule;
    }
    return out;
}

}  // namespace palisade
