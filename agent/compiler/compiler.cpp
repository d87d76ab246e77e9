#include "compiler/compiler.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "compiler/fqdn_names.h"
#include "compiler/port_sets.h"
#include "compiler/prefix_table.h"

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
        : out_(out), nextEpid_(idBase + 1), nextPortset_(idBase + 1) {}

    uint32_t addPolicySet(const std::vector<Policy>& policies, const PolicySetKey& set,
                          const std::vector<Container>& containers, uint16_t flags) {
        uint32_t epid = nextEpid_++;
        out_.policies[epid] = mergedPolicy(policies, set);
        out_.policies[epid].flags |= flags;
        for (size_t i : set) out_.epidPolicies[epid].push_back(policies[i].name);

        std::vector<CidrRule> rules;
        for (size_t i : set) {
            for (const auto& rule : policies[i].egress) {
                if (rule.toCIDR.empty()) continue;
                rules.push_back(
                    {&rule.toCIDR, &rule.except, rulePortRanges(rule.ports), rule.where});
            }
        }
        for (const auto& e : buildPrefixTable(rules)) addPrefix(epid, epid, PAL_POLICY_HOSTS, e);
        addBindRules(epid, policies, set);
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

  private:
    // docs/reference/enforcement.md#bind: when a policy of the set has `bind`, the union of
    // the set's bind rules, in the tries under the epid's bind key (PAL_BIND_EPID).
    void addBindRules(uint32_t epid, const std::vector<Policy>& policies, const PolicySetKey& set) {
        std::vector<CidrRule> rules;
        bool judged = false;
        for (size_t i : set) {
            if (!policies[i].bind) continue;
            judged = true;
            for (const auto& rule : *policies[i].bind) {
                rules.push_back(
                    {&rule.addresses, &rule.except, rulePortRanges(rule.ports), rule.where});
            }
        }
        if (!judged) return;
        out_.policies[epid].flags |= PAL_POLICY_BIND;
        for (const auto& e : buildPrefixTable(rules)) {
            addPrefix(epid | PAL_BIND_EPID, epid, PAL_POLICY_BIND_HOSTS, e);
        }
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

    // An entry under `epid` (a policy set's, or its bind key); a host entry sets
    // `hostsFlag` in the policy of `owner`, whose lookups then try the host maps.
    void addPrefix(uint32_t epid, uint32_t owner, uint16_t hostsFlag, const PrefixEntry& e) {
        pal_lpm_value v{};
        v.ports = ports(*e.ranges, e.firstRule ? e.firstRule->where : SourceLocation{});
        v.flags = e.flags;
        if (e.prefixLen == (e.v6 ? 128 : 32)) {
            out_.policies[owner].flags |= hostsFlag;
            if (e.v6) {
                pal_host6_key k{};
                k.epid = epid;
                std::memcpy(k.addr, e.addr.data(), 16);
                out_.hosts6.emplace_back(k, v);
            } else {
                pal_host4_key k{};
                k.epid = epid;
                std::memcpy(k.addr, e.addr.data(), 4);
                out_.hosts4.emplace_back(k, v);
            }
        } else if (e.v6) {
            pal_lpm6_key k{};
            k.prefixlen = PAL_LPM_EPID_BITS + e.prefixLen;
            k.epid = htonl(epid);
            std::memcpy(k.addr, e.addr.data(), 16);
            out_.lpm6.emplace_back(k, v);
        } else {
            pal_lpm4_key k{};
            k.prefixlen = PAL_LPM_EPID_BITS + e.prefixLen;
            k.epid = htonl(epid);
            std::memcpy(k.addr, e.addr.data(), 4);
            out_.lpm4.emplace_back(k, v);
        }
    }

    MapEntries& out_;
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
