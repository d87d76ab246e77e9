// The compiler on its own: policies + containers in, exact map entries out.
#include "compiler/compiler.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>

#include "compiler/fqdn_names.h"
#include "compiler/port_sets.h"
#include "policy/policy_parser.h"

namespace palisade {
namespace {

Container container(const std::string& name, uint64_t cgroupId) {
    Container c;
    c.id = std::string(64, 'a');
    c.runtime = "docker";
    c.name = name;
    c.cgroupId = cgroupId;
    return c;
}

std::vector<Policy> policiesFrom(const std::string& yaml) {
    PolicyFile f = parsePolicyText(yaml, "test.yaml");
    for (const auto& e : f.errors) ADD_FAILURE() << e.str();
    return f.policies;
}

std::string prefix4(const pal_lpm4_key& k) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, k.addr, buf, sizeof(buf));
    return std::string(buf) + "/" + std::to_string(k.prefixlen - PAL_LPM_SLOT_BITS);
}

std::string prefix6(const pal_lpm6_key& k) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, k.addr, buf, sizeof(buf));
    return std::string(buf) + "/" + std::to_string(k.prefixlen - PAL_LPM_SLOT_BITS);
}

std::string host4(const pal_host4_key& k) {
    char buf[INET_ADDRSTRLEN];
    return std::string(inet_ntop(AF_INET, k.addr, buf, sizeof(buf))) + "/32";
}

std::string host6(const pal_host6_key& k) {
    char buf[INET6_ADDRSTRLEN];
    return std::string(inet_ntop(AF_INET6, k.addr, buf, sizeof(buf))) + "/128";
}

// The class of the node's prefix `cidr` ("192.0.2.0/24", "2001:db8::1/128"), 0 if none.
uint32_t classOf(const MapEntries& m, const std::string& cidr) {
    for (const auto& [k, c] : m.lpm4) {
        if (prefix4(k) == cidr) return c;
    }
    for (const auto& [k, c] : m.lpm6) {
        if (prefix6(k) == cidr) return c;
    }
    for (const auto& [k, c] : m.hosts4) {
        if (host4(k) == cidr) return c;
    }
    for (const auto& [k, c] : m.hosts6) {
        if (host6(k) == cidr) return c;
    }
    return 0;
}

// The set's entry for class `cls`, found as bpf/decide.bpf.h's pal_class_entry finds it:
// its own, else its parent's, up to PAL_CLASS_WALK classes; nullptr when none.
const pal_lpm_value* classEntry(const MapEntries& m, uint32_t epid, uint32_t cls) {
    auto find = [&](uint32_t key, uint32_t id) -> const pal_lpm_value* {
        for (const auto& [k, v] : m.classes) {
            if (k.epid == key && k.class_id == id) return &v;
        }
        return nullptr;
    };
    for (int i = 0; cls && i < PAL_CLASS_WALK; i++) {
        if (const pal_lpm_value* v = find(epid, cls)) return v;
        const pal_lpm_value* up = find(PAL_PARENTS_EPID | (epid & PAL_SLOT_BIT), cls);
        cls = up ? up->parent : 0;
    }
    return nullptr;
}

// What the set `epid` (or its bind key) allows at the node's prefix `cidr`: its entry for
// the prefix's class, or nullptr.
const pal_lpm_value* valueAt(const MapEntries& m, uint32_t epid, const std::string& cidr) {
    return classEntry(m, epid, classOf(m, cidr));
}

std::string rangeText(const pal_port_range& r) {
    return std::to_string(r.first) + "-" + std::to_string(r.last) + ":" + std::to_string(r.protos);
}

// The ranges behind an LPM or peer value, as "first-last:protos" strings.
std::vector<std::string> rangesOf(const MapEntries& m, const pal_ports& p) {
    if (!p.portset) {
        if (!p.range.protos) return {};
        return {rangeText(p.range)};
    }
    std::vector<std::string> out;
    const pal_portset& ps = m.portsets.at(p.portset);
    for (uint32_t i = 0; i < ps.count; i++) out.push_back(rangeText(ps.ranges[i]));
    return out;
}

constexpr const char* kApi = R"(
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: "api*"}
  egress:
    - toCIDR: ["52.94.0.0/16", "2001:db8:10::/48"]
      except: ["52.94.1.0/24"]
      ports:
        - {port: 443, protocol: TCP}
        - {port: 5000, endPort: 5010, protocol: UDP}
)";

TEST(Compiler, SelectedContainerGetsPrefixesWithPortsAndExcept) {
    auto m = compile(policiesFrom(kApi), {container("api-1", 100), container("db", 200)},
                     Config::Defaults{}, 0);
    ASSERT_EQ(m.cgroups.size(), 2u);
    uint32_t api = m.cgroups.at(100).epid;
    uint32_t db = m.cgroups.at(200).epid;
    EXPECT_NE(api, db);
    EXPECT_EQ(m.policies.at(api).mode, PAL_MODE_ENFORCE);
    EXPECT_EQ(m.policies.at(api).flags & PAL_POLICY_UNMATCHED, 0);
    EXPECT_EQ(m.epidPolicies.at(api), std::vector<std::string>{"api"});

    ASSERT_EQ(m.lpm4.size(), 2u);
    EXPECT_EQ(m.lpm4[0].first.slot, 0u) << "the first generation slot";
    const auto* wide = valueAt(m, api, "52.94.0.0/16");
    ASSERT_NE(wide, nullptr);
    EXPECT_EQ(wide->flags, 0u);
    EXPECT_EQ(rangesOf(m, wide->ports), (std::vector<std::string>{"443-443:1", "5000-5010:2"}));
    const auto* carved = valueAt(m, api, "52.94.1.0/24");
    ASSERT_NE(carved, nullptr);
    EXPECT_EQ(carved->flags, uint32_t{PAL_LPM_EXCEPT});
    EXPECT_TRUE(rangesOf(m, carved->ports).empty());

    ASSERT_EQ(m.lpm6.size(), 1u);
    EXPECT_EQ(m.lpm6[0].first.prefixlen, PAL_LPM_SLOT_BITS + 48);
    EXPECT_EQ(valueAt(m, db, "52.94.0.0/16"), nullptr) << "no rule of db's set holds it";
    // 52.94.0.0/16 and 2001:db8:10::/48 share one class; the except's class has api's
    // entry and its parent's.
    EXPECT_EQ(m.classes.size(), 3u);
}

TEST(Compiler, UnmatchedContainerFollowsDefaults) {
    for (auto [action, mode] : {std::pair{UnmatchedAction::Allow, PAL_MODE_ALLOW},
                                {UnmatchedAction::Audit, PAL_MODE_AUDIT},
                                {UnmatchedAction::Deny, PAL_MODE_ENFORCE}}) {
        Config::Defaults d;
        d.unmatched = action;
        auto m = compile(policiesFrom(kApi), {container("db", 200)}, d, 0);
        const auto& p = m.policies.at(m.cgroups.at(200).epid);
        EXPECT_EQ(p.mode, mode);
        EXPECT_EQ(p.flags, PAL_POLICY_UNMATCHED | PAL_POLICY_ISOLATED);
        EXPECT_TRUE(m.lpm4.empty());
    }
}

TEST(Compiler, PoliciesAddUpAndOverlapsUnionTheirPorts) {
    auto policies = policiesFrom(std::string(kApi) + R"(
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api-extra}
spec:
  selector: {name: "api-1"}
  mode: audit
  rawSockets: allow
  exec: {setuid: deny}
  egress:
    - toCIDR: ["52.94.1.0/24"]
      ports: [{port: 80, protocol: TCP}]
    - toCIDR: ["52.94.0.0/16"]
      ports: [{port: 444, protocol: TCP}]
)");
    auto m = compile(policies, {container("api-1", 1), container("api-2", 2)}, {}, 0);
    uint32_t both = m.cgroups.at(1).epid;
    EXPECT_NE(both, m.cgroups.at(2).epid);
    const auto& p = m.policies.at(both);
    EXPECT_EQ(p.mode, PAL_MODE_ENFORCE) << "any enforce enforces";
    EXPECT_EQ(p.flags, PAL_POLICY_RAW_ALLOW | PAL_POLICY_ISOLATED);
    EXPECT_EQ(p.exec_setuid, PAL_EXEC_DENY);

    const pal_lpm_value* wide = valueAt(m, both, "52.94.0.0/16");
    const pal_lpm_value* carved = valueAt(m, both, "52.94.1.0/24");
    ASSERT_TRUE(wide && carved);
    // 443 and 444 merge into one TCP range; UDP keeps its own.
    EXPECT_EQ(rangesOf(m, wide->ports), (std::vector<std::string>{"443-444:1", "5000-5010:2"}));
    // api's except removes api's ports there, api-extra's rules still apply.
    EXPECT_EQ(rangesOf(m, carved->ports), (std::vector<std::string>{"80-80:1", "444-444:1"}));
    EXPECT_EQ(carved->flags, uint32_t{PAL_LPM_EXCEPT});
}

// The common rule (no ports, or one range) costs the BPF side no port-set
// lookup: its ports ride in the LPM value; two ranges or more get a port set.
TEST(Compiler, OneRangeRidesInlineAndMoreGetAPortSet) {
    auto m = compile(policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: mixed}
spec:
  selector: {name: "x"}
  egress:
    - toCIDR: ["10.0.0.0/8"]
    - toCIDR: ["10.1.0.0/16"]
      ports: [{port: 443, protocol: TCP}]
    - toCIDR: ["192.0.2.0/24"]
      ports: [{port: 443, protocol: TCP}]
    - toCIDR: ["198.51.100.0/24"]
      ports: [{port: 53, protocol: UDP}, {port: 443, protocol: TCP}]
)"),
                     {container("x", 1)}, {}, 0);
    const uint32_t x = m.cgroups.at(1).epid;
    const auto* all = valueAt(m, x, "10.0.0.0/8");
    const auto* one = valueAt(m, x, "192.0.2.0/24");
    const auto* covered = valueAt(m, x, "10.1.0.0/16");
    const auto* two = valueAt(m, x, "198.51.100.0/24");
    ASSERT_TRUE(all && one && covered && two);
    EXPECT_EQ(all->ports.portset, 0u);
    EXPECT_EQ(rangesOf(m, all->ports), std::vector<std::string>{"0-65535:15"});
    EXPECT_EQ(one->ports.portset, 0u);
    EXPECT_EQ(rangesOf(m, one->ports), std::vector<std::string>{"443-443:1"});
    // Inside 10/8 the union is everything again: one range.
    EXPECT_EQ(covered->ports.portset, 0u);
    EXPECT_EQ(rangesOf(m, covered->ports), std::vector<std::string>{"0-65535:15"});
    EXPECT_NE(two->ports.portset, 0u);
    EXPECT_EQ(rangesOf(m, two->ports), (std::vector<std::string>{"53-53:2", "443-443:1"}));
    EXPECT_EQ(m.portsets.size(), 1u);
}

// Single addresses go to the exact-match host maps (one hash lookup instead of
// a trie walk), with the same value the trie would hold; the policy says so.
TEST(Compiler, SingleAddressesGoToTheHostMaps) {
    auto m = compile(policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: hosts}
spec:
  selector: {name: "x"}
  egress:
    - toCIDR: ["192.0.2.0/24", "192.0.2.7/32", "2001:db8::1/128"]
      except: ["192.0.2.9/32"]
      ports: [{port: 443, protocol: TCP}]
)"),
                     {container("x", 1), container("y", 2)}, {}, 0);
    const uint32_t x = m.cgroups.at(1).epid;
    EXPECT_TRUE(m.policies.at(x).flags & PAL_POLICY_HOSTS);
    EXPECT_FALSE(m.policies.at(m.cgroups.at(2).epid).flags & PAL_POLICY_HOSTS);
    ASSERT_EQ(m.lpm4.size(), 1u);
    EXPECT_EQ(prefix4(m.lpm4[0].first), "192.0.2.0/24");
    EXPECT_TRUE(m.lpm6.empty());
    ASSERT_EQ(m.hosts4.size(), 2u);
    const auto* allowed = valueAt(m, x, "192.0.2.7/32");
    const auto* carved = valueAt(m, x, "192.0.2.9/32");
    ASSERT_TRUE(allowed && carved);
    EXPECT_EQ(rangesOf(m, allowed->ports), std::vector<std::string>{"443-443:1"});
    EXPECT_EQ(allowed->flags, 0u);
    EXPECT_TRUE(rangesOf(m, carved->ports).empty());
    EXPECT_EQ(carved->flags, uint32_t{PAL_LPM_EXCEPT});
    ASSERT_EQ(m.hosts6.size(), 1u);
    EXPECT_EQ(m.hosts6[0].first.slot, 0u);
    const auto* v6 = valueAt(m, x, "2001:db8::1/128");
    ASSERT_TRUE(v6);
    EXPECT_EQ(rangesOf(m, v6->ports), std::vector<std::string>{"443-443:1"});
}

// docs/reference/enforcement.md#bind: a set with a `bind` policy gets PAL_POLICY_BIND and
// its bind rules under its bind key; without one, no bind entries and binds are not judged.
TEST(Compiler, BindRulesGoUnderTheBindKey) {
    auto policies = policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: web}
spec:
  selector: {name: "web"}
  egress:
    - toCIDR: ["192.0.2.0/24"]
  bind:
    - addresses: ["127.0.0.1", "10.0.0.0/8"]
      except: ["10.1.0.0/16"]
      ports: [{port: 8080, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: nothing}
spec:
  selector: {name: "closed"}
  bind: []
)");
    auto m =
        compile(policies, {container("web", 1), container("closed", 2), container("db", 3)}, {}, 0);
    const uint32_t web = m.cgroups.at(1).epid;
    const uint32_t closed = m.cgroups.at(2).epid;
    EXPECT_EQ(m.policies.at(web).flags & (PAL_POLICY_BIND | PAL_POLICY_BIND_HOSTS),
              PAL_POLICY_BIND | PAL_POLICY_BIND_HOSTS);
    EXPECT_FALSE(m.policies.at(web).flags & PAL_POLICY_HOSTS) << "no /32 egress entries";
    EXPECT_EQ(m.policies.at(closed).flags & PAL_POLICY_BIND, PAL_POLICY_BIND);
    EXPECT_FALSE(m.policies.at(m.cgroups.at(3).epid).flags & PAL_POLICY_BIND);
    EXPECT_FALSE(m.policies.count(web | PAL_BIND_EPID)) << "the bind key is no policy set";

    const uint32_t bind = web | PAL_BIND_EPID;
    const auto* wide = valueAt(m, bind, "10.0.0.0/8");
    const auto* carved = valueAt(m, bind, "10.1.0.0/16");
    const auto* loopback = valueAt(m, bind, "127.0.0.1/32");
    ASSERT_TRUE(wide && carved && loopback);
    EXPECT_EQ(rangesOf(m, wide->ports), std::vector<std::string>{"8080-8080:1"});
    EXPECT_EQ(carved->flags, uint32_t{PAL_LPM_EXCEPT});
    EXPECT_EQ(rangesOf(m, loopback->ports), std::vector<std::string>{"8080-8080:1"});
    EXPECT_EQ(classOf(m, "127.0.0.1/32"), classOf(m, "10.0.0.0/8")) << "held the same way";
    EXPECT_TRUE(valueAt(m, web, "192.0.2.0/24")) << "egress entries stay under the epid";
    EXPECT_FALSE(valueAt(m, bind, "192.0.2.0/24"));
    EXPECT_FALSE(valueAt(m, web, "10.0.0.0/8"));
    EXPECT_EQ(m.hosts4.size(), 1u);
    EXPECT_EQ(m.classes.size(), 3u + 1) << "and 10.1.0.0/16's parent";
}

TEST(Compiler, ContainersWithTheSamePoliciesShareEntries) {
    auto m = compile(policiesFrom(kApi), {container("api-1", 1), container("api-2", 2)}, {}, 0);
    EXPECT_EQ(m.cgroups.at(1).epid, m.cgroups.at(2).epid);
    EXPECT_EQ(m.cgroups.at(2).container, 1u);
    EXPECT_EQ(m.policies.size(), 1u);
    EXPECT_EQ(m.lpm4.size(), 2u);
}

// Issue 19: a prefix list shared by policy sets that differ otherwise is stored once, and
// each set gets one entry for it, not one per prefix.
TEST(Compiler, APrefixListSharedBySetsIsStoredOnce) {
    std::string list;
    for (int i = 0; i < 2000; i++) {
        list += (i ? ", \"" : "\"") + std::string("100.") + std::to_string(64 + i / 256) + "." +
                std::to_string(i % 256) + ".0/24\"";
    }
    auto policies = policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: shared}
spec:
  selector: {name: "app*"}
  egress:
    - toCIDR: [)" + list + R"(]
      ports: [{port: 443, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: a}
spec:
  selector: {name: "app-a"}
  egress:
    - toCIDR: ["192.0.2.0/24"]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: b}
spec:
  selector: {name: "app-b"}
  egress:
    - toCIDR: ["100.64.0.0/10"]
      ports: [{port: 80, protocol: TCP}]
)");
    auto m = compile(policies,
                     {container("app-a", 1), container("app-b", 2), container("app-c", 3)}, {}, 0);
    ASSERT_EQ(m.policies.size(), 3u);
    EXPECT_EQ(m.lpm4.size(), 2000u + 2) << "each prefix once, for three policy sets";
    // One class for the list (inside 100.64.0.0/10: its parent is that prefix's), one for
    // 192.0.2.0/24, one for 100.64.0.0/10 alone.
    EXPECT_EQ(m.classes.size(), 3u + 1 + 1 + 1);
    const uint32_t b = m.cgroups.at(2).epid;
    const auto* inList = valueAt(m, b, "100.64.7.0/24");
    const auto* outside = valueAt(m, b, "100.64.0.0/10");
    ASSERT_TRUE(inList && outside);
    EXPECT_EQ(rangesOf(m, inList->ports), (std::vector<std::string>{"80-80:1", "443-443:1"}));
    EXPECT_EQ(rangesOf(m, outside->ports), std::vector<std::string>{"80-80:1"});
    const auto* c = valueAt(m, m.cgroups.at(3).epid, "100.64.7.0/24");
    ASSERT_TRUE(c);
    EXPECT_EQ(rangesOf(m, c->ports), std::vector<std::string>{"443-443:1"});
    EXPECT_FALSE(valueAt(m, m.cgroups.at(3).epid, "100.64.0.0/10"));
}

// The node's prefixes and classes say, for every policy set and address, what the set's
// own rules say (the per-set tables they replace): random overlapping rules, excepts,
// single addresses and ports, every address of a small space looked up as the programs do.
// docs/prefix-classes.md#the-walk: a broad rule shared by every set, with a narrower rule of
// each set inside it, costs entries in proportion to the sets, not their square: in each
// narrow class only its own set has an entry, the others walk to the broad class's.
TEST(Compiler, ABroadSharedRuleWithNarrowerRulesOfEachSetCostsEntriesPerSet) {
    constexpr int kSets = 600;
    std::string yaml = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: shared}
spec:
  selector: {name: "*"}
  egress:
    - toCIDR: ["10.0.0.0/8"]
      ports: [{port: 443, protocol: TCP}]
)";
    std::vector<Container> containers;
    for (int i = 0; i < kSets; i++) {
        const std::string n = std::to_string(i);
        const std::string net = std::to_string(i / 250) + "." + std::to_string(i % 250);
        yaml += "---\napiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: p" + n +
                "}\nspec:\n  selector: {name: c" + n + "}\n  egress:\n    - toCIDR: [\"10." + net +
                ".0/24\"]\n      ports: [{port: 5432, protocol: TCP}]\n";
        containers.push_back(container("c" + n, 100 + static_cast<uint64_t>(i)));
    }
    const auto m = compile(policiesFrom(yaml), containers, {}, 0);
    ASSERT_EQ(m.policies.size(), static_cast<size_t>(kSets));
    // The broad class: one entry per set. Each narrow class: its set's entry and its parent.
    EXPECT_EQ(m.classes.size(), 3u * kSets) << "was kSets * (kSets + 1)";
    const uint32_t first = m.cgroups.at(100).epid;
    const uint32_t other = m.cgroups.at(101).epid;
    const auto* own = valueAt(m, first, "10.0.0.0/24");
    const auto* walked = valueAt(m, other, "10.0.0.0/24");
    ASSERT_TRUE(own && walked);
    EXPECT_EQ(rangesOf(m, own->ports), (std::vector<std::string>{"443-443:1", "5432-5432:1"}));
    EXPECT_EQ(rangesOf(m, walked->ports), std::vector<std::string>{"443-443:1"});
}

// Each of many sets carving its own except out of one broad prefix: in each carve-out only
// the set whose except it is has an entry.
TEST(Compiler, ExceptsOfEachSetInASharedPrefixCostEntriesPerSet) {
    constexpr int kSets = 300;
    std::string yaml;
    std::vector<Container> containers;
    for (int i = 0; i < kSets; i++) {
        const std::string n = std::to_string(i);
        yaml += std::string(i ? "---\n" : "") +
                "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: p" + n +
                "}\nspec:\n  selector: {name: c" + n +
                "}\n  egress:\n    - toCIDR: [\"10.0.0.0/8\"]\n      except: [\"10." +
                std::to_string(i / 250) + "." + std::to_string(i % 250) +
                ".0/24\"]\n      ports: [{port: 443, protocol: TCP}]\n";
        containers.push_back(container("c" + n, 100 + static_cast<uint64_t>(i)));
    }
    const auto m = compile(policiesFrom(yaml), containers, {}, 0);
    EXPECT_EQ(m.classes.size(), 3u * kSets) << "was kSets * (kSets + 1)";
    const auto* carved = valueAt(m, m.cgroups.at(100).epid, "10.0.0.0/24");
    const auto* open = valueAt(m, m.cgroups.at(101).epid, "10.0.0.0/24");
    ASSERT_TRUE(carved && open);
    EXPECT_EQ(carved->flags, uint32_t{PAL_LPM_EXCEPT});
    EXPECT_TRUE(rangesOf(m, carved->ports).empty());
    EXPECT_EQ(rangesOf(m, open->ports), std::vector<std::string>{"443-443:1"});
}

// Prefixes nested deeper than a walk: a class more than PAL_CLASS_WALK classes down starts
// a walk of its own, with an entry for every set that holds it.
TEST(Compiler, NestingDeeperThanTheWalkStartsAWalkAgain) {
    const char* nested[] = {"10.0.0.0/8",  "10.1.0.0/16", "10.1.1.0/24", "10.1.1.0/26",
                            "10.1.1.0/28", "10.1.1.0/30", "10.1.1.0/31"};
    std::string yaml;
    std::vector<Container> containers;
    int p = 0;
    for (const char* cidr : nested) {
        const std::string n = std::to_string(p);
        yaml += std::string(p ? "---\n" : "") +
                "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: p" + n +
                "}\nspec:\n  selector: {name: \"" + (p == 0 ? std::string("*") : "c" + n) +
                "\"}\n  egress:\n    - toCIDR: [\"" + cidr +
                "\"]\n      ports: [{port: " + std::to_string(1000 + p) + ", protocol: TCP}]\n";
        containers.push_back(container("c" + n, 100 + static_cast<uint64_t>(p)));
        p++;
    }
    const auto m = compile(policiesFrom(yaml), containers, {}, 0);
    // c0 has only the broad rule: at every depth it finds 1000, through a walk of at most
    // PAL_CLASS_WALK classes.
    const uint32_t c0 = m.cgroups.at(100).epid;
    for (const char* cidr : nested) {
        const auto* v = valueAt(m, c0, cidr);
        ASSERT_NE(v, nullptr) << cidr;
        EXPECT_EQ(rangesOf(m, v->ports), std::vector<std::string>{"1000-1000:1"}) << cidr;
    }
    const auto* deepest = valueAt(m, m.cgroups.at(106).epid, "10.1.1.0/31");
    ASSERT_NE(deepest, nullptr);
    EXPECT_EQ(rangesOf(m, deepest->ports),
              (std::vector<std::string>{"1000-1000:1", "1006-1006:1"}));
}

TEST(Compiler, ClassesGiveEverySetWhatItsOwnRulesSay) {
    std::mt19937 rng(19);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    // Prefixes in 10.0.0.0/22 of lengths 22 to 32: small enough to try every address.
    auto prefix = [&](uint32_t within, int withinLen) {
        const int len = withinLen + pick(33 - withinLen);
        uint32_t a = within | (rng() & ((withinLen == 32) ? 0 : (0xffffffffu >> withinLen)));
        a &= len == 0 ? 0 : ~0u << (32 - len);
        return std::pair{a, len};
    };
    auto text = [](std::pair<uint32_t, int> p) {
        return std::to_string(p.first >> 24) + "." + std::to_string((p.first >> 16) & 255) + "." +
               std::to_string((p.first >> 8) & 255) + "." + std::to_string(p.first & 255) + "/" +
               std::to_string(p.second);
    };
    const char* ports[] = {"", "      ports: [{port: 443, protocol: TCP}]\n",
                           "      ports: [{port: 53, protocol: UDP}, {port: 443, protocol: TCP}]\n",
                           "      ports: [{port: 8000, endPort: 8100, protocol: TCP}]\n"};
    const char* selectors[] = {"*", "c1*", "c2*", "c1-x", "c3"};
    for (int round = 0; round < 60; round++) {
        std::string yaml;
        for (int p = 0; p < 5; p++) {
            yaml += std::string(p ? "---\n" : "") +
                    "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: "
                    "{name: p" +
                    std::to_string(p) + "}\nspec:\n  selector: {name: \"" + selectors[p] +
                    "\"}\n  egress:\n";
            for (int r = 0, rules = 1 + pick(3); r < rules; r++) {
                std::string cidrs, excepts;
                for (int c = 0, n = 1 + pick(3); c < n; c++) {
                    const auto cidr = prefix(0x0a000000u, 22);
                    cidrs += (c ? ", \"" : "\"") + text(cidr) + "\"";
                    if (pick(2) && cidr.second < 32) {
                        excepts += (excepts.empty() ? "\"" : ", \"") +
                                   text(prefix(cidr.first, cidr.second + 1)) + "\"";
                    }
                }
                yaml += "    - toCIDR: [" + cidrs + "]\n";
                if (!excepts.empty()) yaml += "      except: [" + excepts + "]\n";
                yaml += ports[pick(4)];
            }
        }
        const auto policies = policiesFrom(yaml);
        ASSERT_EQ(policies.size(), 5u) << yaml;
        const std::vector<Container> containers = {container("c1-x", 1), container("c1-y", 2),
                                                   container("c2-x", 3), container("c3", 4)};
        const auto m = compile(policies, containers, {}, generationIdBase(round));
        const uint32_t slot = generationIdBase(round);
        for (const auto& c : containers) {
            const uint32_t epid = m.cgroups.at(c.cgroupId).epid;
            const bool hosts = m.policies.at(epid).flags & PAL_POLICY_HOSTS;
            for (uint32_t a = 0x0a000000u; a < 0x0a000400u; a++) {
                // What the set's own rules say of `a`.
                Cidr addr;
                for (int i = 0; i < 4; i++) addr.addr[i] = static_cast<uint8_t>(a >> (24 - 8 * i));
                addr.prefixLen = 32;
                bool held = false;
                uint32_t flags = 0;
                std::vector<pal_port_range> ranges;
                for (const auto& p : policies) {
                    if (!selectorMatches(p.selector, c)) continue;
                    for (const auto& rule : p.egress) {
                        auto holds = [&](const std::vector<Cidr>& cs) {
                            return std::any_of(cs.begin(), cs.end(),
                                               [&](const Cidr& x) { return x.contains(addr); });
                        };
                        const bool inside = holds(rule.toCIDR), except = holds(rule.except);
                        held |= inside || except;
                        if (inside && except) flags |= PAL_LPM_EXCEPT;
                        if (inside && !except) {
                            const auto r = rulePortRanges(rule.ports);
                            ranges.insert(ranges.end(), r.begin(), r.end());
                        }
                    }
                }
                // What the maps say, looked up as bpf/decide.bpf.h does.
                uint32_t cls = 0;
                for (const auto& [k, v] : m.hosts4) {
                    if (hosts && k.slot == slot && std::memcmp(k.addr, addr.addr.data(), 4) == 0)
                        cls = v;
                }
                for (int best = cls ? 32 : -1; const auto& [k, v] : m.lpm4) {
                    const int len = static_cast<int>(k.prefixlen - PAL_LPM_SLOT_BITS);
                    uint32_t base;
                    std::memcpy(&base, k.addr, 4);
                    const uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
                    if (k.slot == htonl(slot) && len > best && ((a ^ ntohl(base)) & mask) == 0) {
                        best = len;
                        cls = v;
                    }
                }
                const pal_lpm_value* v = classEntry(m, epid, cls);
                const std::string where = c.name + " " + text({a, 32}) + "\n" + yaml;
                ASSERT_EQ(v != nullptr, held) << where;
                if (!v) continue;
                std::vector<std::string> want;
                for (const auto& r : normalizePortRanges(ranges)) want.push_back(rangeText(r));
                EXPECT_EQ(rangesOf(m, v->ports), want) << where;
                EXPECT_EQ(v->flags, flags) << where;
            }
        }
    }
}

TEST(Compiler, GenerationsUseDisjointIds) {
    auto policies = policiesFrom(kApi);
    auto even = compile(policies, {container("api", 1)}, {}, generationIdBase(2));
    auto odd = compile(policies, {container("api", 1)}, {}, generationIdBase(3));
    EXPECT_LT(even.cgroups.at(1).epid, 0x80000000u);
    EXPECT_GE(odd.cgroups.at(1).epid, 0x80000000u);
    ASSERT_FALSE(odd.portsets.empty());
    EXPECT_GE(odd.portsets.begin()->first, 0x80000000u);
    EXPECT_EQ(even.lpm4[0].first.slot, 0u);
    EXPECT_EQ(odd.lpm4[0].first.slot, htonl(PAL_SLOT_BIT));
    ASSERT_FALSE(odd.classes.empty());
    EXPECT_GE(odd.classes[0].first.class_id, 0x80000000u);
    EXPECT_EQ(odd.classes[0].first.class_id, odd.lpm4[0].second);
}

TEST(Compiler, TooManyPortRangesIsAnErrorWithTheRuleLocation) {
    std::string yaml = R"(
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: many}
spec:
  selector: {name: "x"}
  egress:
    - toCIDR: ["10.0.0.0/8"]
      ports:
)";
    for (int i = 0; i <= PAL_MAX_PORT_RANGES; i++) {
        yaml += "        - {port: " + std::to_string(1000 + 2 * i) + ", protocol: TCP}\n";
    }
    try {
        compile(policiesFrom(yaml), {container("x", 1)}, {}, 0);
        FAIL() << "expected a CompileError";
    } catch (const CompileError& e) {
        EXPECT_EQ(e.diagnostic().where.file, "test.yaml");
        EXPECT_EQ(e.diagnostic().where.line, 8);
        EXPECT_NE(std::string(e.what()).find("17 distinct port ranges"), std::string::npos);
    }
}

struct PortCase {
    const char* name;
    std::vector<pal_port_range> in;
    std::vector<std::string> out;
};

pal_port_range R(uint16_t a, uint16_t b, uint8_t p) { return {a, b, p, {}}; }

TEST(PortSets, NormalizeTable) {
    const std::vector<PortCase> cases = {
        {"empty", {}, {}},
        {"adjacent merge", {R(10, 20, 1), R(21, 30, 1)}, {"10-30:1"}},
        {"overlap merge", {R(10, 20, 1), R(15, 40, 1)}, {"10-40:1"}},
        {"tcp and udp fold", {R(53, 53, 1), R(53, 53, 2)}, {"53-53:3"}},
        {"icmp is portless", {R(0, 65535, 4), R(443, 443, 1)}, {"0-65535:4", "443-443:1"}},
        {"all", {R(0, 65535, 15), R(80, 80, 1)}, {"0-65535:15"}},
    };
    for (const auto& c : cases) {
        std::vector<std::string> got;
        for (const auto& r : normalizePortRanges(c.in)) {
            got.push_back(std::to_string(r.first) + "-" + std::to_string(r.last) + ":" +
                          std::to_string(r.protos));
        }
        EXPECT_EQ(got, c.out) << c.name;
    }
}

TEST(PortSets, RuleWithoutPortsAllowsEverything) {
    auto r = rulePortRanges({});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].protos, PAL_PROTO_ALL);
    EXPECT_EQ(r[0].last, 65535);
}

}  // namespace
}  // namespace palisade

namespace palisade {
namespace {

// docs/reference/enforcement.md#inter-container: toContainers rules become (sender epid,
// receiving container) entries with the union of their ports; every policy set is marked
// isolated when interContainer is deny (the default).
TEST(Compiler, ToContainersRulesBecomePeerEntries) {
    const std::string yaml = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: api}
  egress:
    - toContainers: {name: db}
      ports: [{port: 5432, protocol: TCP}]
    - toContainers: {labels: {tier: data}}
      ports: [{port: 6379, protocol: TCP}]
)";
    Container db = container("db", 200);
    db.labels["tier"] = "data";
    auto m = compile(policiesFrom(yaml), {container("api", 100), db, container("web", 300)}, {}, 0);
    const uint32_t apiEpid = m.cgroups.at(100).epid;
    ASSERT_EQ(m.peers.size(), 1u);
    EXPECT_EQ(m.peers[0].first.epid, apiEpid);
    EXPECT_EQ(m.peers[0].first.peer_cgroup, 200u);
    EXPECT_EQ(rangesOf(m, m.peers[0].second),
              (std::vector<std::string>{"5432-5432:1", "6379-6379:1"}));
    for (const auto& [epid, p] : m.policies) EXPECT_TRUE(p.flags & PAL_POLICY_ISOLATED) << epid;

    Config::Defaults open;
    open.interContainer = InterContainer::Allow;
    auto m2 = compile(policiesFrom(yaml), {container("api", 100), db}, open, 0);
    for (const auto& [epid, p] : m2.policies) EXPECT_FALSE(p.flags & PAL_POLICY_ISOLATED) << epid;
}

}  // namespace
}  // namespace palisade

namespace palisade {
namespace {

uint64_t selectorIdOf(bool pattern, const std::string& name) {
    FqdnSelector s;
    s.pattern = pattern;
    s.name = name;
    return fqdnSelectorId(fqdnNameKey(s));
}

// The pal_peers entries of policy set `epid` that are toFQDNs selectors: selector id -> its
// ranges.
std::map<uint64_t, std::vector<std::string>> fqdnPeersOf(const MapEntries& m, uint32_t epid) {
    std::map<uint64_t, std::vector<std::string>> out;
    for (const auto& [k, v] : m.peers) {
        if (k.epid != epid || !(k.peer_cgroup & PAL_FQDN_SELECTOR)) continue;
        EXPECT_EQ(k.pad, 0u);
        EXPECT_FALSE(out.count(k.peer_cgroup & ~PAL_FQDN_SELECTOR)) << "one entry per selector";
        out[k.peer_cgroup & ~PAL_FQDN_SELECTOR] = rangesOf(m, v);
    }
    return out;
}

// docs/reference/enforcement.md#fqdn: each selector is a pal_fqdn_names entry (id -> its key,
// with its text for status and events), and a pal_peers entry of each policy set having it,
// under PAL_FQDN_SELECTOR | id, with the rule's ports; the set is marked PAL_POLICY_FQDN.
TEST(Compiler, ToFqdnsBecomeNamesAndSelectorPeers) {
    auto policies = policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: web}
spec:
  selector: {name: web}
  egress:
    - toFQDNs: [{matchName: api.stripe.com}, {matchPattern: "*.s3.amazonaws.com"}]
      ports: [{port: 443, protocol: TCP}]
    - toFQDNs: [{matchName: ntp.example.org}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db}
spec:
  selector: {name: db}
  egress:
    - toCIDR: ["192.0.2.0/24"]
)");
    auto m = compile(policies, {container("web", 1), container("db", 2), container("x", 3)}, {}, 0);
    const uint32_t web = m.cgroups.at(1).epid;
    const uint32_t db = m.cgroups.at(2).epid;
    const uint32_t unmatched = m.cgroups.at(3).epid;

    const uint64_t stripe = selectorIdOf(false, "api.stripe.com");
    const uint64_t s3 = selectorIdOf(true, "s3.amazonaws.com");
    const uint64_t ntp = selectorIdOf(false, "ntp.example.org");
    ASSERT_EQ(m.fqdnNames.size(), 3u);
    ASSERT_TRUE(m.fqdnNames.count(stripe) && m.fqdnNames.count(s3) && m.fqdnNames.count(ntp));
    EXPECT_EQ(m.fqdnNames.at(stripe).text, "api.stripe.com");
    EXPECT_EQ(m.fqdnNames.at(s3).text, "*.s3.amazonaws.com");
    EXPECT_EQ(m.fqdnNames.at(ntp).text, "ntp.example.org");
    for (const auto& [id, name] : m.fqdnNames) {
        EXPECT_EQ(fqdnSelectorId(name.key), id) << name.text;
    }
    EXPECT_EQ(m.fqdnNames.at(stripe).key.kind, uint32_t{PAL_FQDN_EXACT});
    EXPECT_EQ(m.fqdnNames.at(s3).key.kind, uint32_t{PAL_FQDN_ONE_LABEL});
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.fqdnNames.at(s3).key.name)),
              "\x02s3\x09"
              "amazonaws\x03"
              "com");

    ASSERT_EQ(m.peers.size(), 3u) << "no entries but the web set's selectors";
    const auto peers = fqdnPeersOf(m, web);
    EXPECT_EQ(peers, (std::map<uint64_t, std::vector<std::string>>{
                         {stripe, {"443-443:1"}},
                         {s3, {"443-443:1"}},
                         {ntp, {"0-65535:15"}},  // no ports: every protocol and port
                     }));

    EXPECT_TRUE(m.policies.at(web).flags & PAL_POLICY_FQDN);
    EXPECT_FALSE(m.policies.at(web).flags & PAL_POLICY_HOSTS) << "no address entries";
    EXPECT_FALSE(m.policies.at(db).flags & PAL_POLICY_FQDN);
    EXPECT_FALSE(m.policies.at(unmatched).flags & PAL_POLICY_FQDN);
    EXPECT_TRUE(m.hosts4.empty());
    ASSERT_EQ(m.lpm4.size(), 1u) << "db's prefix only";
    ASSERT_EQ(m.classes.size(), 1u);
    EXPECT_EQ(m.classes[0].first.epid, db);
}

// The programs look a query's own name up before its pattern: a matchName's entry gets the
// ports of the set's patterns that match it (whatever policy of the set they are in), while a
// set with only the pattern has the pattern's entry alone.
TEST(Compiler, MatchNameGetsThePortsOfTheSetsMatchingPatterns) {
    auto policies = policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: names}
spec:
  selector: {name: api}
  egress:
    - toFQDNs: [{matchName: a.x.com}]
      ports: [{port: 443, protocol: TCP}]
    - toFQDNs: [{matchName: b.c.x.com}, {matchName: x.com}]
      ports: [{port: 80, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: patterns}
spec:
  selector: {name: "*"}
  egress:
    - toFQDNs: [{matchPattern: "*.x.com"}]
      ports: [{port: 8443, protocol: TCP}]
    - toFQDNs: [{matchPattern: "*.x.com"}]
      ports: [{port: 53, protocol: UDP}]
)");
    auto m = compile(policies, {container("api", 1), container("other", 2)}, {}, 0);
    const uint32_t api = m.cgroups.at(1).epid;
    const uint32_t other = m.cgroups.at(2).epid;
    ASSERT_NE(api, other);
    const uint64_t a = selectorIdOf(false, "a.x.com");
    const uint64_t bc = selectorIdOf(false, "b.c.x.com");
    const uint64_t x = selectorIdOf(false, "x.com");
    const uint64_t pattern = selectorIdOf(true, "x.com");
    EXPECT_EQ(m.fqdnNames.size(), 4u);

    EXPECT_EQ(fqdnPeersOf(m, api),
              (std::map<uint64_t, std::vector<std::string>>{
                  {a, {"53-53:2", "443-443:1", "8443-8443:1"}},  // its own and the pattern's
                  {bc, {"80-80:1"}},                             // two labels: not matched
                  {x, {"80-80:1"}},                              // the parent itself: neither
                  {pattern, {"53-53:2", "8443-8443:1"}},
              }));
    EXPECT_EQ(fqdnPeersOf(m, other), (std::map<uint64_t, std::vector<std::string>>{
                                         {pattern, {"53-53:2", "8443-8443:1"}},
                                     }));
    EXPECT_TRUE(m.policies.at(api).flags & PAL_POLICY_FQDN);
    EXPECT_TRUE(m.policies.at(other).flags & PAL_POLICY_FQDN);
}

// A selector named by two policy sets (in any spelling DNS treats as the same name) is one
// pal_fqdn_names entry and one pal_peers entry per set, each with that set's ports.
TEST(Compiler, PolicySetsSharingASelectorShareItsName) {
    auto policies = policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: one}
spec:
  selector: {name: one}
  egress:
    - toFQDNs: [{matchName: api.stripe.com}]
      ports: [{port: 443, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: two}
spec:
  selector: {name: two}
  egress:
    - toFQDNs: [{matchName: API.Stripe.COM.}, {matchName: api.stripe.com}]
      ports: [{port: 8443, protocol: TCP}]
)");
    auto m = compile(policies, {container("one", 1), container("two", 2)}, {}, 0);
    const uint32_t one = m.cgroups.at(1).epid;
    const uint32_t two = m.cgroups.at(2).epid;
    ASSERT_NE(one, two);
    const uint64_t stripe = selectorIdOf(false, "api.stripe.com");
    ASSERT_EQ(m.fqdnNames.size(), 1u);
    EXPECT_EQ(m.fqdnNames.begin()->first, stripe);
    EXPECT_EQ(m.fqdnNames.begin()->second.text, "api.stripe.com");
    EXPECT_EQ(m.peers.size(), 2u);
    EXPECT_EQ(fqdnPeersOf(m, one),
              (std::map<uint64_t, std::vector<std::string>>{{stripe, {"443-443:1"}}}));
    EXPECT_EQ(fqdnPeersOf(m, two),
              (std::map<uint64_t, std::vector<std::string>>{{stripe, {"8443-8443:1"}}}));
}

// Selector ids carry no generation: what a container learned under one stays valid after a
// reload that keeps the selector, while epids and port sets move to the other slot.
TEST(Compiler, FqdnSelectorIdsAreTheSameInEveryGeneration) {
    auto policies = policiesFrom(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: web}
spec:
  selector: {name: web}
  egress:
    - toFQDNs: [{matchName: api.stripe.com}, {matchPattern: "*.s3.amazonaws.com"}]
      ports: [{port: 443, protocol: TCP}, {port: 53, protocol: UDP}]
)");
    auto even = compile(policies, {container("web", 1)}, {}, generationIdBase(2));
    auto odd = compile(policies, {container("web", 1)}, {}, generationIdBase(3));
    ASSERT_EQ(even.fqdnNames.size(), 2u);
    ASSERT_EQ(odd.fqdnNames.size(), 2u);
    for (auto e = even.fqdnNames.begin(), o = odd.fqdnNames.begin(); e != even.fqdnNames.end();
         ++e, ++o) {
        EXPECT_EQ(e->first, o->first);
        EXPECT_EQ(e->second.text, o->second.text);
        EXPECT_EQ(std::memcmp(&e->second.key, &o->second.key, sizeof(pal_fqdn_name)), 0);
    }
    const uint32_t evenEpid = even.cgroups.at(1).epid;
    const uint32_t oddEpid = odd.cgroups.at(1).epid;
    EXPECT_NE(evenEpid, oddEpid);
    const auto evenPeers = fqdnPeersOf(even, evenEpid);
    EXPECT_EQ(evenPeers.size(), 2u);
    EXPECT_EQ(evenPeers, fqdnPeersOf(odd, oddEpid));
    for (const auto& [k, v] : odd.peers) {
        EXPECT_GE(v.portset, 0x80000000u) << "two ranges: a port set of the odd slot";
    }
}

}  // namespace
}  // namespace palisade
