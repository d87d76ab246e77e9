// The DNS answer parser of toFQDNs (bpf/dns.bpf.h, docs/reference/enforcement.md#fqdn) through
// BPF_PROG_TEST_RUN: crafted queries and answers, byte by byte, and what the kernel learned.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "datapath/map_writer.h"
#include "decide_test.skel.h"
#include "packets.h"
#include "policy/policy_parser.h"

namespace palisade::test {
namespace {

constexpr uint64_t kCgroup = 43;
constexpr const char* kClient = "198.18.0.10";
constexpr const char* kResolver = "198.18.0.53";
// The first answer record of an answer for "api.example.test": header (12), question name
// (18), type and class (4).
constexpr size_t kFirstRecord = 12 + 18 + 4;

constexpr const char* kPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: by-name}
spec:
  selector: {name: app}
  egress:
    - toFQDNs: [{matchName: api.example.test}, {matchPattern: "*.cdn.example.test"}]
      ports: [{port: 443, protocol: TCP}]
    - toCIDR: [198.18.0.53/32]
      ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
)";

uint64_t monotonicNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

class DnsProg : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "BPF_PROG_TEST_RUN needs root";
        skel_ = decide_test__open_and_load();
        ASSERT_NE(skel_, nullptr) << "load decide_test: " << strerror(errno);
        PolicyFile f = parsePolicyText(kPolicy, "by-name.yaml");
        ASSERT_TRUE(f.valid()) << f.errors.front().str();
        Container c;
        c.name = "app";
        c.cgroupId = kCgroup;
        pal_config cfg{};
        cfg.fqdn_min_ttl = 60;
        cfg.fqdn_max_ttl = 3600;
        cfg.fqdn_budget = 100;
        writer_ = std::make_unique<MapWriter>(policyMapFds(skel_->maps), cfg);
        writer_->apply(compile(f.policies, {c}, {}, generationIdBase(1)), 1);
    }
    void TearDown() override {
        writer_.reset();
        if (skel_) decide_test__destroy(skel_);
    }

    void run(bpf_program* prog, std::vector<uint8_t> pkt) {
        __sk_buff ctx{};
        ctx.cb[0] = static_cast<uint32_t>(kCgroup);
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(),
                    .data_size_in = static_cast<uint32_t>(pkt.size()), .ctx_in = &ctx,
                    .ctx_size_in = sizeof(ctx));
        ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &o), 0) << strerror(errno);
    }
    void query(const std::string& name, uint16_t id = 7, uint16_t port = 5353) {
        run(skel_->progs.pal_test_dns_query,
            udpPacket(kClient, port, kResolver, 53, dnsMessage(false, name, id)));
    }
    void answer(const std::vector<uint8_t>& message, const std::string& from = kResolver,
                uint16_t port = 5353) {
        run(skel_->progs.pal_test_dns_answer, udpPacket(from, 53, kClient, port, message));
    }
    // The expiry of the address learned for the container (0: none).
    uint64_t learnedUntil(const std::string& ip) {
        pal_fqdn_addr_key k{};
        k.cgroup_id = kCgroup;
        k.family = 4;
        inet_pton(AF_INET, ip.c_str(), k.addr);
        pal_fqdn_addr v{};
        if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.pal_fqdn_addrs), &k, &v) != 0) return 0;
        return v.slot[0].expires_ns;
    }
    bool learned(const std::string& ip) { return learnedUntil(ip) > monotonicNs(); }

    decide_test* skel_ = nullptr;
    std::unique_ptr<MapWriter> writer_;
};

TEST_F(DnsProg, AnAnswerToTheContainersQueryTeachesItsAddresses) {
    query("api.example.test");
    answer(dnsMessage(true, "api.example.test", 7, {"198.19.0.1", "198.19.0.2"}));
    EXPECT_TRUE(learned("198.19.0.1"));
    EXPECT_TRUE(learned("198.19.0.2"));
    // The query is taken out: the same answer again teaches nothing new.
    answer(dnsMessage(true, "api.example.test", 7, {"198.19.0.3"}));
    EXPECT_FALSE(learned("198.19.0.3"));
}

TEST_F(DnsProg, NamesCompareInLowerCaseOnWholeLabels) {
    query("API.Example.TEST", 8);  // 0x20 case randomisation: the resolver echoes it
    answer(dnsMessage(true, "api.EXAMPLE.test", 8, {"198.19.0.1"}));
    EXPECT_TRUE(learned("198.19.0.1"));
    query("a.cdn.example.test", 9);
    answer(dnsMessage(true, "a.cdn.example.test", 9, {"198.19.0.2"}));
    EXPECT_TRUE(learned("198.19.0.2")) << "one label in front of the pattern";
    for (const char* name : {"a.b.cdn.example.test", "cdn.example.test", "xapi.example.test",
                             "api.example.test.evil", "acdn.example.test"}) {
        SCOPED_TRACE(name);
        query(name, 10);
        answer(dnsMessage(true, name, 10, {"198.19.0.3"}));
        EXPECT_FALSE(learned("198.19.0.3"));
    }
}

TEST_F(DnsProg, OnlyTheAskedResolverPortIdAndNameCount) {
    query("api.example.test", 7, 5353);
    answer(dnsMessage(true, "api.example.test", 8, {"198.19.0.1"}));  // another id
    answer(dnsMessage(true, "api.example.test", 7, {"198.19.0.1"}), "198.18.0.54");
    answer(dnsMessage(true, "api.example.test", 7, {"198.19.0.1"}), kResolver, 5354);
    // The question of the answer is another name, the id and port match.
    answer(dnsMessage(true, "evil.example.test", 7, {"198.19.0.1"}));
    EXPECT_FALSE(learned("198.19.0.1"));
    // The query is still noted: the real answer still teaches.
    answer(dnsMessage(true, "api.example.test", 7, {"198.19.0.2"}));
    EXPECT_TRUE(learned("198.19.0.2"));
}

TEST_F(DnsProg, MalformedAnswersTeachNothing) {
    struct Case {
        const char* what;
        void (*spoil)(std::vector<uint8_t>&);
    };
    const Case cases[] = {
        {"TC set", [](std::vector<uint8_t>& m) { m[2] |= 0x02; }},
        {"not an answer", [](std::vector<uint8_t>& m) { m[2] &= 0x7f; }},
        {"SERVFAIL", [](std::vector<uint8_t>& m) { m[3] |= 0x02; }},
        {"a record more than sent", [](std::vector<uint8_t>& m) { m[7] += 1; }},
        {"cut in the last record", [](std::vector<uint8_t>& m) { m.resize(m.size() - 2); }},
        {"an A record of 5 bytes",
         [](std::vector<uint8_t>& m) {
             m[kFirstRecord + 11] = 5;
             m.push_back(0);
         }},
        {"a pointer forward",
         [](std::vector<uint8_t>& m) { m[kFirstRecord + 1] = static_cast<uint8_t>(m.size()); }},
        {"a pointer into the header", [](std::vector<uint8_t>& m) { m[kFirstRecord + 1] = 4; }},
        {"a pointer to itself (a loop)",
         [](std::vector<uint8_t>& m) {
             // The owner becomes the label "loop" and then a pointer to that label.
             const std::vector<uint8_t> loop = {
                 4, 'l', 'o', 'o', 'p', 0xc0, static_cast<uint8_t>(kFirstRecord)};
             m.erase(m.begin() + kFirstRecord, m.begin() + kFirstRecord + 2);
             m.insert(m.begin() + kFirstRecord, loop.begin(), loop.end());
         }},
        {"a label of 64 bytes", [](std::vector<uint8_t>& m) { m[kFirstRecord] = 64; }},
        {"a pointer in the question", [](std::vector<uint8_t>& m) { m[12] = 0xc0; }},
    };
    uint16_t id = 100;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        query("api.example.test", id);
        // Two records: one answer is all or nothing.
        std::vector<uint8_t> two =
            dnsMessage(true, "api.example.test", id, {"198.19.0.1", "198.19.0.9"});
        c.spoil(two);
        answer(two);
        EXPECT_FALSE(learned("198.19.0.1"));
        EXPECT_FALSE(learned("198.19.0.9"));
        id++;
    }
}

// Each run of BPF_PROG_TEST_RUN has a socket of its own: a TCP answer here is one whose
// connection's SYN-ACK was never seen (docs/reference/enforcement.md#dns-over-tcp);
// tests/integration/fqdn_test.cpp has the real connections.
TEST_F(DnsProg, AnAnswerCountsOnlyOverItsQuerysProtocolAndTcpStream) {
    const std::vector<uint8_t> q = dnsMessage(false, "api.example.test", 20);
    const std::vector<uint8_t> ans = dnsMessage(true, "api.example.test", 20, {"198.19.0.1"});
    // Two queries in one segment, as glibc writes them: both are noted.
    std::vector<uint8_t> two = withLength(q);
    const std::vector<uint8_t> second = withLength(dnsMessage(false, "api.example.test", 21));
    two.insert(two.end(), second.begin(), second.end());
    run(skel_->progs.pal_test_dns_query, tcpPacket(kClient, 5353, kResolver, 53, 1, false, two));
    answer(ans);  // over UDP, to the same port and id
    EXPECT_FALSE(learned("198.19.0.1")) << "a UDP answer to a TCP query";
    run(skel_->progs.pal_test_dns_answer,
        tcpPacket(kResolver, 53, kClient, 5353, 1, false, withLength(ans)));
    EXPECT_FALSE(learned("198.19.0.1")) << "a TCP answer on a stream never seen starting";
    pal_dns_query_key k{};
    k.cgroup_id = kCgroup;
    inet_pton(AF_INET, kResolver, k.server);
    k.family = 4;
    k.protocol = IPPROTO_TCP;
    k.port = htons(5353);
    pal_dns_query v{};
    const int queries = bpf_map__fd(skel_->maps.pal_dns_queries);
    for (uint16_t id : {20, 21}) {
        k.id = htons(id);
        EXPECT_EQ(bpf_map_lookup_elem(queries, &k, &v), 0) << "query " << id << " not noted";
    }
}

TEST_F(DnsProg, AQueryForANameNoSelectorMatchesIsNotNoted) {
    query("other.test", 11);
    answer(dnsMessage(true, "other.test", 11, {"198.19.0.1"}));
    EXPECT_FALSE(learned("198.19.0.1"));
}

TEST_F(DnsProg, TheTtlIsKeptWithinTheConfiguredBounds) {
    std::vector<uint8_t> m = dnsMessage(true, "api.example.test", 12, {"198.19.0.1", "198.19.0.2"});
    // The first record's TTL 0, the second's 10^6 s.
    for (int i = 0; i < 4; i++) m[kFirstRecord + 6 + i] = 0;
    const size_t second = kFirstRecord + 16;
    const uint32_t big = htonl(1'000'000);
    std::memcpy(&m[second + 6], &big, 4);
    query("api.example.test", 12);
    const uint64_t before = monotonicNs();
    answer(m);
    const uint64_t after = monotonicNs();
    const uint64_t s = 1'000'000'000ULL;
    EXPECT_GE(learnedUntil("198.19.0.1"), before + 60 * s);
    EXPECT_LE(learnedUntil("198.19.0.1"), after + 60 * s);
    EXPECT_GE(learnedUntil("198.19.0.2"), before + 3600 * s);
    EXPECT_LE(learnedUntil("198.19.0.2"), after + 3600 * s);
}

}  // namespace
}  // namespace palisade::test
