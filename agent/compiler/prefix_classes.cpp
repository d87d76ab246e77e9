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

// A class's holds and parent as bytes, the key that finds an equal class: std::string
// compares with one memcmp bounded by its sizes (a std::vector<uint8_t> key makes GCC 12
// at -O3 warn, -Wstringop-overread, about a length it cannot bound).
std::string classKey(const std::vector<RuleHold>& holds, uint32_t parent) {
    std::string key;
    key.reserve(holds.size() * 5 + sizeof(parent));
    key.append(reinterpret_cast<const char*>(&parent), sizeof(parent));
    for (const auto& h : holds) {
        key.append(reinterpret_cast<const char*>(&h.rule), sizeof(h.rule));
        key.push_back(static_cast<char>(h.how));
    }
    return key;
}

bool sameHold(const RuleHold& a, const RuleHold& b) { return a.rule == b.rule && a.how == b.how; }

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
    std::vector<uint32_t> walk;  // each class's walk: itself and its parents, in classes
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
        // Held as the prefix that contains it: that prefix's class, which means the same.
        if (!stack.empty() && std::equal(holds.begin(), holds.end(), stack.back().holds.begin(),
                                         stack.back().holds.end(), sameHold)) {
            const uint32_t cls = stack.back().cls;
            out.prefixes.push_back({key.v6, key.addr, key.prefixLen, cls});
            stack.push_back({key, std::move(holds), cls});
            continue;
        }
        uint32_t parent = PrefixClasses::kNoParent;
        if (!stack.empty() && walk[stack.back().cls] < PAL_CLASS_WALK) parent = stack.back().cls;
        auto [id, fresh] = classIds.try_emplace(classKey(holds, parent), 0);
        if (fresh) {
            id->second = static_cast<uint32_t>(out.classes.size());
            out.classes.push_back(holds);
            out.parents.push_back(parent);
            walk.push_back(parent == PrefixClasses::kNoParent ? 1 : walk[parent] + 1);
        }
        out.prefixes.push_back({key.v6, key.addr, key.prefixLen, id->second});
        stack.push_back({key, std::move(holds), id->second});
    }
    return out;
}

}  // namespace palisade
