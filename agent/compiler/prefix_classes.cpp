#include "compiler/prefix_classes.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

namespace palisade {
namespace {

// A prefix's place in the table: by family, address, then length (a Cidr's
// position in its file plays no part, nor in Cidr's == and contains()).
bool before(const Cidr& a, const Cidr& b) {
    return std::tie(a.v6, a.addr, a.prefixLen) < std::tie(b.v6, b.addr, b.prefixLen);
}

// A class's holds as bytes, the key that finds an equal class: std::string compares
// with one memcmp bounded by its sizes (a std::vector<uint8_t> key makes GCC 12 at
// -O3 warn, -Wstringop-overread, about a length it cannot bound).
std::string classKey(const std::vector<RuleHold>& holds) {
    std::string key;
    key.reserve(holds.size() * 5);
    for (const auto& h : holds) {
        key.append(reinterpret_cast<const char*>(&h.rule), sizeof(h.rule));
        key.push_back(static_cast<char>(h.how));
    }
    return key;
}

}  // namespace

PrefixClasses classifyPrefixes(const std::vector<CidrRule>& rules) {
    // Sorted by (family, address, length): a prefix is followed by every prefix
    // it contains, so a stack holds exactly the prefixes containing the current one.
    std::vector<std::pair<Cidr, RuleHold>> marked;
    for (size_t i = 0; i < rules.size(); i++) {
        const auto rule = static_cast<uint32_t>(i);
        for (const auto& c : *rules[i].cidrs) marked.push_back({c, {rule, RuleHold::kInside}});
        for (const auto& c : *rules[i].except) marked.push_back({c, {rule, RuleHold::kExceptOnly}});
    }
    std::sort(marked.begin(), marked.end(),
              [](const auto& a, const auto& b) { return before(a.first, b.first); });

    PrefixClasses out;
    std::map<std::string, uint32_t> classIds;
    std::vector<uint32_t> walk;  // at most how many classes each class's walk looks at
    // Each prefix on the stack, with how the rules hold it (its own marks and its
    // ancestors' together, by rule) and its class.
    struct Held {
        Cidr prefix;
        std::vector<RuleHold> holds;
        uint32_t cls;
    };
    std::vector<Held> stack;
    for (size_t at = 0; at < marked.size();) {
        const Cidr& key = marked[at].first;
        while (!stack.empty() && !stack.back().prefix.contains(key)) stack.pop_back();
        std::vector<RuleHold> holds = stack.empty() ? std::vector<RuleHold>{} : stack.back().holds;
        for (; at < marked.size() && marked[at].first == key; at++) {
            const RuleHold& mark = marked[at].second;
            auto it = std::lower_bound(holds.begin(), holds.end(), mark.rule,
                                       [](const RuleHold& h, uint32_t r) { return h.rule < r; });
            if (it != holds.end() && it->rule == mark.rule) {
                it->how |= mark.how;
            } else {
                holds.insert(it, mark);
            }
        }
        // A class's parent is the class of the prefixes that contain its own. A prefix held
        // as the prefix containing it is of that prefix's class; a class whose prefixes lie
        // in prefixes of different classes has no parent (no one class stands for it), nor
        // one whose parents would make the walk longer than PAL_CLASS_WALK.
        const uint32_t around = stack.empty() ? PrefixClasses::kNoParent : stack.back().cls;
        auto [id, fresh] = classIds.try_emplace(classKey(holds), 0);
        if (fresh) {
            id->second = static_cast<uint32_t>(out.classes.size());
            const uint32_t parent =
                around != PrefixClasses::kNoParent && walk[around] < PAL_CLASS_WALK
                    ? around
                    : PrefixClasses::kNoParent;
            out.classes.push_back(holds);
            out.parents.push_back(parent);
            walk.push_back(parent == PrefixClasses::kNoParent ? 1 : walk[parent] + 1);
        } else if (around != id->second && out.parents[id->second] != around) {
            out.parents[id->second] = PrefixClasses::kNoParent;
        }
        out.prefixes.push_back({key.v6, key.addr, key.prefixLen, id->second});
        stack.push_back({key, std::move(holds), id->second});
    }
    return out;
}

}  // namespace palisade
