// The egress decision through BPF_PROG_TEST_RUN: the compiled table in the test
// object's maps, a crafted packet per case, the verdict read back.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <set>

#include "compiler/compiler.h"
#include "datapath/map_writer.h"
#include "decide_test.skel.h"
#include "egress_cases.h"
#include "packets.h"
#include "policy/policy_parser.h"

namespace palisade::test {
namespace {

struct TestResult {
    uint8_t verdict, reason, family, origFamily;
    uint16_t port;
    uint8_t pad[2];
    uint8_t addr[16];
};

class DecideProg : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "BPF_PROG_TEST_RUN needs root";
        skel_ = decide_test__open_and_load();
        ASSERT_NE(skel_, nullptr) << "load decide_test: " << strerror(errno);
        pal_config cfg{};
        cfg.nat64_prefixlen = 96;
        inet_pton(AF_INET6, "64:ff9b::", cfg.nat64_prefix);
        fds_ = policyMapFds(skel_->maps);
        config_ = cfg;
        writer_ = std::make_unique<MapWriter>(fds_, config_);
    }
    void TearDown() override { decide_test__destroy(skel_); }

    static constexpr uint64_t kCgroup = 42;

    // Compiles `yaml` for one container (kCgroup) and returns its epid.
    uint32_t install(const std::string& yaml, uint64_t generation) {
        PolicyFile f = parsePolicyText(yaml, "table.yaml");
        EXPECT_TRUE(f.valid()) << (f.errors.empty() ? "" : f.errors[0].str());
        Container c;
        c.name = "client-1";
        c.cgroupId = kCgroup;
        auto entries = compile(f.policies, {c}, {}, generationIdBase(generation));
        writer_->apply(entries, generation);
        writer_->retire();
        return entries.cgroups.at(kCgroup).epid;
    }

    // Judges `c` for the container `cgroup`.
    TestResult run(const EgressCase& c, uint64_t cgroup = kCgroup) {
        auto pkt = packetTo(c.dest, c.protocol, c.port);
        __sk_buff ctx{};
        ctx.cb[0] = static_cast<uint32_t>(cgroup);
        ctx.cb[1] = static_cast<uint32_t>(cgroup >> 32);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(),
                    .data_size_in = static_cast<uint32_t>(pkt.size()), .ctx_in = &ctx,
                    .ctx_size_in = sizeof(ctx));
        int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.pal_test_decide), &opts);
        EXPECT_EQ(err, 0) << strerror(errno);
        TestResult r{};
        uint32_t zero = 0;
        EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.pal_test_out), &zero, &r), 0);
        return r;
    }

    decide_test* skel_ = nullptr;
    PolicyMapFds fds_;
    pal_config config_{};
    std::unique_ptr<MapWriter> writer_;
};

// The generation-slot bit of every id in a map (see generationIdBase).
template <typename K>
std::set<uint32_t> slotsIn(int fd, uint32_t (*idOf)(const K&)) {
    std::set<uint32_t> slots;
    K key{}, next{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        slots.insert(idOf(next) & 0x80000000u);
        key = next;
        prev = &key;
    }
    return slots;
}
uint32_t idOfU32(const uint32_t& id) { return id; }
uint32_t idOfLpm4(const pal_lpm4_key& k) { return ntohl(k.slot); }
uint32_t idOfHost4(const pal_host4_key& k) { return k.slot; }
uint32_t idOfClass(const pal_class_key& k) { return k.class_id; }

std::string judged(const TestResult& r) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(r.family == 6 ? AF_INET6 : AF_INET, r.addr, buf, sizeof(buf));
    return buf;
}

TEST_F(DecideProg, EgressTableEnforce) {
    install(kEgressTablePolicy, 1);
    for (const auto& c : kEgressCases) {
        TestResult r = run(c);
        EXPECT_EQ(r.verdict, c.verdict) << c.name;
        EXPECT_EQ(r.reason, c.reason) << c.name;
        EXPECT_EQ(judged(r), c.judgedAs) << c.name;
        if (c.protocol != IPPROTO_ICMP) {
            EXPECT_EQ(r.port, c.port) << c.name;
        }
    }
}

// docs/prefix-classes.md#the-walk in the kernel: a set with no entry for a class (its rules
// hold it as they hold the class's parent) is judged by its entry for the parent, and one
// with no entry anywhere on the walk is refused; down to prefixes nested deeper than a walk.
TEST_F(DecideProg, ASetWithoutAnEntryForAClassIsJudgedByItsParents) {
    PolicyFile f = parsePolicyText(R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: shared}
spec:
  selector: {name: "*"}
  egress:
    - toCIDR: ["10.0.0.0/8"]
      except: ["10.1.2.128/25"]
      ports: [{port: 443, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: narrow}
spec:
  selector: {name: other}
  egress:
    - toCIDR: ["10.1.0.0/16"]
      ports: [{port: 5432, protocol: TCP}]
    - toCIDR: ["10.1.2.0/24"]
      ports: [{port: 5433, protocol: TCP}]
    - toCIDR: ["10.1.2.0/26"]
      ports: [{port: 5434, protocol: TCP}]
    - toCIDR: ["10.1.2.0/28"]
      ports: [{port: 5435, protocol: TCP}]
    - toCIDR: ["10.1.2.0/30"]
      ports: [{port: 5436, protocol: TCP}]
)",
                                   "walk.yaml");
    ASSERT_TRUE(f.valid()) << (f.errors.empty() ? "" : f.errors[0].str());
    Container client, other;
    client.name = "client-1";
    client.cgroupId = kCgroup;
    other.name = "other";
    other.cgroupId = kCgroup + 1;
    writer_->apply(compile(f.policies, {client, other}, {}, generationIdBase(1)), 1);
    struct Case {
        const char* dest;
        uint16_t port;
        uint8_t clientVerdict, otherVerdict;
    };
    constexpr uint8_t kAllow = PAL_VERDICT_ALLOW, kDeny = PAL_VERDICT_DENY;
    for (const Case& c : std::vector<Case>{{"10.9.9.9", 443, kAllow, kAllow},
                                           {"10.1.9.9", 443, kAllow, kAllow},
                                           {"10.1.9.9", 5432, kDeny, kAllow},
                                           {"10.1.2.1", 443, kAllow, kAllow},
                                           {"10.1.2.1", 5432, kDeny, kAllow},
                                           {"10.1.2.1", 5436, kDeny, kAllow},
                                           {"10.1.2.5", 5436, kDeny, kDeny},
                                           {"10.1.2.5", 5435, kDeny, kAllow},
                                           {"10.1.2.5", 443, kAllow, kAllow},
                                           {"10.1.2.200", 443, kDeny, kDeny},
                                           {"10.1.2.200", 5432, kDeny, kAllow},
                                           {"10.2.0.1", 5432, kDeny, kDeny},
                                           {"192.0.2.1", 443, kDeny, kDeny}}) {
        const EgressCase e{c.dest, c.dest, c.port, IPPROTO_TCP, 0, 0, c.dest};
        const std::string where = std::string(c.dest) + ":" + std::to_string(c.port);
        EXPECT_EQ(run(e).verdict, c.clientVerdict) << "client-1 to " << where;
        EXPECT_EQ(run(e, kCgroup + 1).verdict, c.otherVerdict) << "other to " << where;
    }
    const TestResult carved = run({"", "10.1.2.200", 443, IPPROTO_TCP, 0, 0, ""});
    EXPECT_EQ(carved.reason, PAL_REASON_EXCEPT);
}

TEST_F(DecideProg, AuditModeDecidesButNeverDenies) {
    std::string yaml = kEgressTablePolicy;
    yaml.replace(yaml.find("  egress:"), 0, "  mode: audit\n");
    install(yaml, 1);
    for (const auto& c : kEgressCases) {
        TestResult r = run(c);
        uint8_t expected = c.verdict == PAL_VERDICT_DENY ? uint8_t{PAL_VERDICT_AUDIT} : c.verdict;
        EXPECT_EQ(r.verdict, expected) << c.name;
        EXPECT_EQ(r.reason, c.reason) << c.name;
    }
}

TEST_F(DecideProg, NewGenerationReplacesTheOld) {
    uint32_t first = install(kEgressTablePolicy, 1);
    std::string narrowed = kEgressTablePolicy;
    narrowed.replace(narrowed.find("{port: 443, protocol: TCP}"), 26, "{port: 444, protocol: TCP}");
    uint32_t second = install(narrowed, 2);
    EXPECT_NE(first, second);
    EXPECT_EQ(run(kEgressCases[0]).verdict, PAL_VERDICT_DENY);
    // The container's entry carries the new epid and policy in the slot in force,
    // and the first generation's entries are gone.
    pal_cgroup entry{};
    ASSERT_EQ(bpf_map_lookup_elem(fds_.cgroups, &kCgroup, &entry), 0);
    EXPECT_EQ(entry.epid[0], second);
    EXPECT_EQ(entry.policy[0].mode, PAL_MODE_ENFORCE);
    EXPECT_EQ(slotsIn<pal_lpm4_key>(fds_.lpm4, idOfLpm4), std::set<uint32_t>{generationIdBase(2)});
    EXPECT_EQ(slotsIn<pal_class_key>(fds_.classes, idOfClass),
              std::set<uint32_t>{generationIdBase(2)});
    EXPECT_EQ(slotsIn<uint32_t>(fds_.portsets, idOfU32), std::set<uint32_t>{generationIdBase(2)});
}

// docs/reference/state-and-lifecycle.md#stop-and-restart: a restarted agent takes over the maps.
// The generation in force keeps deciding, leftovers of an interrupted apply (the other slot) go at
// once, and the adopted generation is retired by the next apply like any other.
TEST_F(DecideProg, AdoptedMapsKeepTheirGenerationAndRetireIt) {
    install(kEgressTablePolicy, 1);
    const uint32_t epid = install(kEgressTablePolicy, 2);
    const uint32_t leftover = generationIdBase(3) | 7;  // an apply of 3 cut short
    pal_portset ps{};
    ASSERT_EQ(bpf_map_update_elem(fds_.portsets, &leftover, &ps, BPF_ANY), 0);

    writer_ = std::make_unique<MapWriter>(fds_, config_, MapWriter::Adopt{});
    EXPECT_EQ(writer_->generation(), 2u);
    EXPECT_EQ(slotsIn<uint32_t>(fds_.portsets, idOfU32), std::set<uint32_t>{generationIdBase(2)});
    for (const auto& c : kEgressCases) EXPECT_EQ(run(c).verdict, c.verdict) << c.name;
    // A container joining the adopted generation gets its policy too.
    const uint64_t joining = 43;
    writer_->setContainer(joining, {epid, 1});
    pal_cgroup entry{};
    ASSERT_EQ(bpf_map_lookup_elem(fds_.cgroups, &joining, &entry), 0);
    EXPECT_EQ(entry.epid[1], epid);
    EXPECT_EQ(entry.policy[1].mode, PAL_MODE_ENFORCE);

    install(kEgressTablePolicy, 3);
    EXPECT_EQ(slotsIn<uint32_t>(fds_.portsets, idOfU32), std::set<uint32_t>{generationIdBase(3)});
    EXPECT_EQ(slotsIn<pal_lpm4_key>(fds_.lpm4, idOfLpm4), std::set<uint32_t>{generationIdBase(3)});
    EXPECT_EQ(slotsIn<pal_host4_key>(fds_.hosts4, idOfHost4),
              std::set<uint32_t>{generationIdBase(3)});
    EXPECT_EQ(slotsIn<pal_class_key>(fds_.classes, idOfClass),
              std::set<uint32_t>{generationIdBase(3)});
    for (const auto& c : kEgressCases) EXPECT_EQ(run(c).verdict, c.verdict) << c.name;
}

}  // namespace
}  // namespace palisade::test
