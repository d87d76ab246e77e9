#include "compiler/compiler.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "compiler/fqdn_names.h"
#include "compiler/port_sets.h"
#include "compiler/prefix_classes.h"

namespace palisade {
namespace {

using PolicySetKey = std::vector<size_t>;  // indices of the policies selecting a container

uint8_t strictest(uint8_t a, uint8_t b) { return std::max(a, b); }

uint8_t execAction(ExecAction a) {
    switch (a) {
        case ExecAction::Allow:
            return PAL_EXEC_ALLOW;
        case ExecAction::Flag:
            return PAL_EXEC_FLAG;
        case ExecAction::Deny:
            return PAL_EXEC_DENY;
    }
    return PAL_EXEC_FLAG;
}

pal_policy unmatchedPolicy(UnmatchedAction action) {
    pal_policy p{};
    p.flags = PAL_POLICY_UNMATCHED;
    switch (action) {
        case UnmatchedAction::Allow:
            p.mode = PAL_MODE_ALLOW;
            break;
        case UnmatchedAction::Audit:
            p.mode = PAL_MODE_AUDIT;
            break;
        case UnmatchedAction::Deny:
            p.mode = PAL_MODE_ENFORCE;
            break;
    }
    p.exec_setuid = PAL_EXEC_ALLOW;
    return p;
}

// Policies add up (docs/reference/enforcement.md): any `enforce` enforces, allowances (egress
// rules, rawSockets: allow) accumulate, and the strictest exec action applies.
pal_policy mergedPolicy(const std::vector<Policy>& policies, const PolicySetKey& set) {
    pal_policy p{};
    p.mode = PAL_MODE_AUDIT;
    p.exec_setuid = PAL_EXEC_ALLOW;
    for (size_t i : set) {
        const Policy& pol = policies[i];
        if (pol.mode == Mode::Enforce) p.mode = PAL_MODE_ENFORCE;
        if (pol.rawSockets == RawSockets::Allow) p.flags |= PAL_POLICY_RAW_ALLOW;
        p.exec_setuid = strictest(p.exec_setuid, execAction(pol.execSetuid));
    }
    return p;
}

class Builder {
  public:
    Builder(MapEntries& out, uint32_t idBase)
        : out_(out), idBase_(idBase), nextEpid_(idBase + 1), nextPortset_(idBase + 1) {}

    uint32_t addPolicySet(const std::vector<Policy>& policies, const PolicySetKey& set,
                          const std::vector<Container>& containers, uint16_t flags) {
        uint32_t epid = nextEpid_++;
        out_.policies[epid] = mergedPolicy(policies, set);
        out_.policies[epid].flags |= flags;
        for (size_t i : set) {
            out_.epidPolicies[epid].push_back(policies[i].name);
            // docs/reference/enforcement.md#bind: binds are judged when a policy has `bind`.
            if (policies[i].bind) out_.policies[epid].flags |= PAL_POLICY_BIND;
        }
        sets_.emplace_back(epid, set);
        addPeers(epid, policies, set, containers);
        addFqdns(epid, policies, set);
        return epid;
    }

    uint32_t addUnmatched(UnmatchedAction action, uint16_t flags) {
        uint32_t epid = nextEpid_++;
        out_.policies[epid] = unmatchedPolicy(action);
        out_.policies[epid].flags |= flags;
        out_.epidPolicies[epid] = {};
        return epid;
    }

    // docs/prefix-classes.md: every toCIDR, except and bind address of the policies the sets
    // use goes into the node's prefixes once, and each set (or its bind key) gets an entry
    // for each class its rules hold.
    void addPrefixes(const std::vector<Policy>& policies) {
        std::vector<bool> used(policies.size(), false);
        for (const auto& [epid, set] : sets_) {
            for (size_t i : set) used[i] = true;
        }
        std::vector<CidrRule> rules;
        std::vector<std::vector<size_t>> egressRules(policies.size());
        std::vector<std::vector<size_t>> bindRules(policies.size());
        for (size_t i = 0; i < policies.size(); i++) {
            if (!used[i]) continue;
            for (const auto& rule : policies[i].egress) {
                if (rule.toCIDR.empty()) continue;
                egressRules[i].push_back(rules.size());
                rules.push_back(
                    {&rule.toCIDR, &rule.except, rulePortRanges(rule.ports), rule.where});
            }
            if (!policies[i].bind) continue;
            for (const auto& rule : *policies[i].bind) {
                bindRules[i].push_back(rules.size());
                rules.push_back(
                    {&rule.addresses, &rule.except, rulePortRanges(rule.ports), rule.where});
            }
        }
        // The keys whose entries each rule is part of: the epid of every set with its policy,
        // with PAL_BIND_EPID for a bind rule. A set with a single-address rule tries the host
        // maps first.
        std::vector<std::vector<uint32_t>> keysOf(rules.size());
        for (const auto& [epid, set] : sets_) {
            for (size_t i : set) {
                for (size_t r : egressRules[i]) {
                    keysOf[r].push_back(epid);
                    if (hasSingleAddress(rules[r])) out_.policies[epid].flags |= PAL_POLICY_HOSTS;
                }
                for (size_t r : bindRules[i]) {
                    keysOf[r].push_back(epid | PAL_BIND_EPID);
                    if (hasSingleAddress(rules[r])) {
                        out_.policies[epid].flags |= PAL_POLICY_BIND_HOSTS;
                    }
                }
            }
        }

        std::map<uint32_t, std::vector<uint32_t>> rulesOfKey;  // in rule order
        for (uint32_t r = 0; r < rules.size(); r++) {
            for (uint32_t key : keysOf[r]) rulesOfKey[key].push_back(r);
        }

        const PrefixClasses node = classifyPrefixes(rules);
        for (const auto& p : node.prefixes) addPrefix(p, classId(p.cls));
        for (size_t c = 0; c < node.classes.size(); c++) {
            const uint32_t parent = node.parents[c];
            const std::vector<RuleHold> none;
            const auto& above = parent == PrefixClasses::kNoParent ? none : node.classes[parent];
            if (parent != PrefixClasses::kNoParent) {
                pal_class_key k{};
                k.epid = PAL_PARENTS_EPID | (idBase_ & PAL_SLOT_BIT);
                k.class_id = classId(c);
                pal_lpm_value v{};
                v.parent = classId(parent);
                out_.classes.emplace_back(k, v);
            }
            // docs/prefix-classes.md#the-walk: a key has an entry only where what its rules
            // allow differs from what they allow in the parent, so only keys of a rule that
            // holds the class otherwise than the parent can need one.
            std::set<uint32_t> keys;
            for (const RuleHold& h : node.classes[c]) {
                const RuleHold* before = holdOf(above, h.rule);
                if (before && before->how == h.how) continue;
                keys.insert(keysOf[h.rule].begin(), keysOf[h.rule].end());
            }
            for (uint32_t key : keys) {
                const pal_lpm_value here =
                    allowed(rules, holdsOf(rulesOfKey[key], node.classes[c]));
                const std::vector<RuleHold> heldAbove = holdsOf(rulesOfKey[key], above);
                if (!heldAbove.empty() && sameEntry(here, allowed(rules, heldAbove))) continue;
                pal_class_key k{};
                k.epid = key;
                k.class_id = classId(c);
                out_.classes.emplace_back(k, here);
            }
        }
    }

  private:
    uint32_t classId(size_t cls) const { return idBase_ + 1 + static_cast<uint32_t>(cls); }

    // How a class's holds (by rule) hold rule `rule`; null when they do not.
    static const RuleHold* holdOf(const std::vector<RuleHold>& holds, uint32_t rule) {
        auto it = std::lower_bound(holds.begin(), holds.end(), rule,
                                   [](const RuleHold& h, uint32_t r) { return h.rule < r; });
        return it != holds.end() && it->rule == rule ? &*it : nullptr;
    }
    // The holds of a key's rules (in rule order) among a class's.
    static std::vector<RuleHold> holdsOf(const std::vector<uint32_t>& keyRules,
                                         const std::vector<RuleHold>& holds) {
        std::vector<RuleHold> out;
        for (uint32_t r : keyRules) {
            if (const RuleHold* h = holdOf(holds, r)) out.push_back(*h);
        }
        return out;
    }
    static bool sameEntry(const pal_lpm_value& a, const pal_lpm_value& b) {
        return std::memcmp(&a, &b, sizeof(a)) == 0;
    }

    static bool hasSingleAddress(const CidrRule& rule) {
        auto single = [](const Cidr& c) { return c.prefixLen == (c.v6 ? 128 : 32); };
        return std::any_of(rule.cidrs->begin(), rule.cidrs->end(), single) ||
               std::any_of(rule.except->begin(), rule.except->end(), single);
    }

    // What one key's rules allow where they hold a prefix as `holds` says: the union of
    // the ports of each rule that holds it inside its CIDRs and outside its excepts.
    pal_lpm_value allowed(const std::vector<CidrRule>& rules, const std::vector<RuleHold>& holds) {
        std::vector<pal_port_range> ranges;
        const CidrRule* first = nullptr;
        pal_lpm_value v{};
        for (const RuleHold& h : holds) {
            const CidrRule& rule = rules[h.rule];
            if (h.how == RuleHold::kInside) {
                ranges.insert(ranges.end(), rule.ranges.begin(), rule.ranges.end());
                if (!first) first = &rule;
            } else if (h.how == RuleHold::kInsideExcept) {
                v.flags |= PAL_LPM_EXCEPT;
            }
        }
        v.ports = ports(normalizePortRanges(ranges), first ? first->where : SourceLocation{});
        return v;
    }

    // Every container a toContainers rule of the set selects, with the union of
    // the ports those rules allow it.
    void addPeers(uint32_t epid, const std::vector<Policy>& policies, const PolicySetKey& set,
                  const std::vector<Container>& containers) {
        std::map<uint64_t, std::pair<std::vector<pal_port_range>, const EgressRule*>> peers;
        for (size_t i : set) {
            for (const auto& rule : policies[i].egress) {
                if (!rule.toContainers) continue;
                const auto ranges = rulePortRanges(rule.ports);
                for (const auto& c : containers) {
                    if (!selectorMatches(*rule.toContainers, c)) continue;
                    auto& [all, first] = peers[c.cgroupId];
                    all.insert(all.end(), ranges.begin(), ranges.end());
                    if (!first) first = &rule;
                }
            }
        }
        for (const auto& [cgid, entry] : peers) {
            pal_peer_key k{};
            k.epid = epid;
            k.peer_cgroup = cgid;
            out_.peers.emplace_back(k,
                                    ports(normalizePortRanges(entry.first), entry.second->where));
        }
    }

    // docs/reference/enforcement.md#fqdn: each toFQDNs selector of the set, with the union of
    // the ports of the rules naming it, in pal_peers under the selector's id. The programs
    // look a query's own name up before its pattern, so a name's selector gets the ports of
    // the set's patterns that match it too.
    void addFqdns(uint32_t epid, const std::vector<Policy>& policies, const PolicySetKey& set) {
        struct Selected {
            const FqdnSelector* selector = nullptr;
            std::vector<pal_port_range> ranges;
            const EgressRule* first = nullptr;
        };
        std::map<uint64_t, Selected> selected;
        for (size_t i : set) {
            for (const auto& rule : policies[i].egress) {
                const auto ranges = rulePortRanges(rule.ports);
                for (const auto& selector : rule.toFQDNs) {
                    const pal_fqdn_name key = fqdnNameKey(selector);
                    const uint64_t id = fqdnSelectorId(key);
                    auto [known, fresh] =
                        out_.fqdnNames.try_emplace(id, MapEntries::FqdnName{key, selector.str()});
                    if (!fresh && std::memcmp(&known->second.key, &key, sizeof(key)) != 0) {
                        throw CompileError({selector.where, "the ids of toFQDNs selectors " +
                                                                selector.str() + " and " +
                                                                known->second.text + " collide"});
                    }
                    auto& s = selected[id];
                    if (!s.selector) {
                        s.selector = &selector;
                        s.first = &rule;
                    }
                    s.ranges.insert(s.ranges.end(), ranges.begin(), ranges.end());
                }
            }
        }
        if (selected.empty()) return;
        out_.policies[epid].flags |= PAL_POLICY_FQDN;
        for (auto& [id, name] : selected) {
            std::vector<pal_port_range> ranges = name.ranges;
            if (!name.selector->pattern) {
                for (const auto& [other, pattern] : selected) {
                    if (!pattern.selector->pattern ||
                        !fqdnPatternMatches(pattern.selector->name, name.selector->name)) {
                        continue;
                    }
                    ranges.insert(ranges.end(), pattern.ranges.begin(), pattern.ranges.end());
                }
            }
            pal_peer_key k{};
            k.epid = epid;
            k.peer_cgroup = PAL_FQDN_SELECTOR | id;
            out_.peers.emplace_back(k, ports(normalizePortRanges(ranges), name.first->where));
        }
    }

    // At most one range goes inline; more get a port set, shared by equal unions.
    pal_ports ports(const std::vector<pal_port_range>& ranges, const SourceLocation& where) {
        pal_ports p{};
        if (ranges.size() <= 1) {
            if (!ranges.empty()) p.range = ranges.front();
            return p;
        }
        if (ranges.size() > PAL_MAX_PORT_RANGES) {
            throw CompileError({where, "the rules covering one address allow " +
                                           std::to_string(ranges.size()) +
                                           " distinct port ranges; at most " +
                                           std::to_string(PAL_MAX_PORT_RANGES) + " are supported"});
        }
        std::vector<uint64_t> key;
        for (const auto& r : ranges) {
            key.push_back((uint64_t{r.first} << 24) | (uint64_t{r.last} << 8) | r.protos);
        }
        auto [it, inserted] = portsetIds_.try_emplace(key, 0);
        if (inserted) {
            it->second = nextPortset_++;
            pal_portset ps{};
            ps.count = static_cast<uint32_t>(ranges.size());
            std::copy(ranges.begin(), ranges.end(), ps.ranges);
            out_.portsets[it->second] = ps;
        }
        p.portset = it->second;
        return p;
    }

    // A prefix of the node, under the generation slot of the ids: single addresses in the
    // host maps, the others in the tries.
    void addPrefix(const PrefixClasses::Prefix& p, uint32_t cls) {
        const uint32_t slot = idBase_ & PAL_SLOT_BIT;
        if (p.prefixLen == (p.v6 ? 128 : 32)) {
            if (p.v6) {
                pal_host6_key k{};
                k.slot = slot;
                std::memcpy(k.addr, p.addr.data(), 16);
                out_.hosts6.emplace_back(k, cls);
            } else {
                pal_host4_key k{};
                k.slot = slot;
                std::memcpy(k.addr, p.addr.data(), 4);
                out_.hosts4.emplace_back(k, cls);
            }
        } else if (p.v6) {
            pal_lpm6_key k{};
            k.prefixlen = PAL_LPM_SLOT_BITS + p.prefixLen;
            k.slot = htonl(slot);
            std::memcpy(k.addr, p.addr.data(), 16);
            out_.lpm6.emplace_back(k, cls);
        } else {
            pal_lpm4_key k{};
            k.prefixlen = PAL_LPM_SLOT_BITS + p.prefixLen;
            k.slot = htonl(slot);
            std::memcpy(k.addr, p.addr.data(), 4);
            out_.lpm4.emplace_back(k, cls);
        }
    }

    MapEntries& out_;
    uint32_t idBase_;
    std::vector<std::pair<uint32_t, PolicySetKey>> sets_;  // by epid, as added
    uint32_t nextEpid_;
    uint32_t nextPortset_;
    std::map<std::vector<uint64_t>, uint32_t> portsetIds_;
};

}  // namespace

MapEntries compile(const std::vector<Policy>& policies, const std::vector<Container>& containers,
                   const Config::Defaults& defaults, uint32_t idBase) {
    MapEntries out;
    Builder builder(out, idBase);
    std::map<PolicySetKey, uint32_t> epids;  // containers with the same policies share one
    const uint16_t flags = defaults.interContainer == InterContainer::Deny
                               ? uint16_t{PAL_POLICY_ISOLATED}
                               : uint16_t{0};
    for (size_t ci = 0; ci < containers.size(); ci++) {
        PolicySetKey set;
        for (size_t pi = 0; pi < policies.size(); pi++) {
            if (selectorMatches(policies[pi].selector, containers[ci])) set.push_back(pi);
        }
        auto it = epids.find(set);
        if (it == epids.end()) {
            uint32_t epid = set.empty() ? builder.addUnmatched(defaults.unmatched, flags)
                                        : builder.addPolicySet(policies, set, containers, flags);
            it = epids.emplace(set, epid).first;
        }
        out.cgroups[containers[ci].cgroupId] = {it->second, static_cast<uint32_t>(ci)};
    }
    builder.addPrefixes(policies);
    return out;
}

std::vector<uint64_t> containersBeyondRoom(
    const MapEntries& next, const std::map<uint64_t, MapEntries::ContainerEntry>& inForce,
    size_t capacity) {
    size_t room = capacity > inForce.size() ? capacity - inForce.size() : 0;
    std::vector<uint64_t> beyond;
    for (const auto& [cgid, e] : next.cgroups) {  // in id order: the oldest cgroups first
        if (inForce.count(cgid)) continue;
        if (room > 0) {
            room--;
        } else {
            beyond.push_back(cgid);
        }
    }
    return beyond;
}

}  // namespace palisade
