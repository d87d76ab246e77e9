// datapath/fqdn_maps.h against real BPF hash maps shaped like pal_fqdn_addrs, pal_fqdn_use and
// pal_dns_queries
// (docs/reference/enforcement.md#fqdn): what the sweep deletes, keeps, lists and recounts.
// Needs the privilege to create BPF maps; skipped without it.
#include "datapath/fqdn_maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

namespace palisade {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ULL;

pal_fqdn_addr_key addrKey(uint64_t cgroupId, const char* ip) {
    pal_fqdn_addr_key k{};
    k.cgroup_id = cgroupId;
    if (inet_pton(AF_INET, ip, k.addr) == 1) {
        k.family = 4;
    } else {
        EXPECT_EQ(inet_pton(AF_INET6, ip, k.addr), 1) << ip;
        k.family = 6;
    }
    return k;
}

class FqdnMaps : public testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "creating BPF maps needs root";
        addrs_ = bpf_map_create(BPF_MAP_TYPE_HASH, "pal_fqdn_addrs", sizeof(pal_fqdn_addr_key),
                                sizeof(pal_fqdn_addr), 64, nullptr);
        if (addrs_ < 0) {
            GTEST_SKIP() << "bpf_map_create(pal_fqdn_addrs): " << std::strerror(errno);
        }
        use_ = bpf_map_create(BPF_MAP_TYPE_HASH, "pal_fqdn_use", sizeof(uint64_t),
                              sizeof(pal_fqdn_use), 64, nullptr);
        if (use_ < 0) GTEST_SKIP() << "bpf_map_create(pal_fqdn_use): " << std::strerror(errno);
        queries_ = bpf_map_create(BPF_MAP_TYPE_HASH, "pal_dns_queries", sizeof(pal_dns_query_key),
                                  sizeof(pal_dns_query), 64, nullptr);
        if (queries_ < 0) {
            GTEST_SKIP() << "bpf_map_create(pal_dns_queries): " << std::strerror(errno);
        }
    }
    void TearDown() override {
        for (int fd : {addrs_, use_, queries_}) {
            if (fd >= 0) close(fd);
        }
    }
    FqdnSweep sweep(const std::set<uint64_t>& containers, uint64_t now) {
        return sweepFqdnAddresses(addrs_, use_, queries_, containers, now);
    }
    pal_dns_query_key putQuery(uint64_t cgroupId, uint16_t id, uint64_t sentNs) {
        pal_dns_query_key k{};
        k.cgroup_id = cgroupId;
        k.id = id;
        k.family = 4;
        pal_dns_query q{};
        q.sent_ns = sentNs;
        EXPECT_EQ(bpf_map_update_elem(queries_, &k, &q, BPF_NOEXIST), 0) << std::strerror(errno);
        return k;
    }
    bool hasQuery(const pal_dns_query_key& k) const {
        pal_dns_query q{};
        return bpf_map_lookup_elem(queries_, &k, &q) == 0;
    }

    void put(const pal_fqdn_addr_key& k, const pal_fqdn_addr& v) {
        ASSERT_EQ(bpf_map_update_elem(addrs_, &k, &v, BPF_NOEXIST), 0) << std::strerror(errno);
    }
    void putUse(uint64_t cgroupId, uint64_t addresses, uint64_t refused) {
        pal_fqdn_use u{};
        u.addresses = addresses;
        u.refused = refused;
        ASSERT_EQ(bpf_map_update_elem(use_, &cgroupId, &u, BPF_NOEXIST), 0) << std::strerror(errno);
    }
    bool has(const pal_fqdn_addr_key& k) const {
        pal_fqdn_addr v{};
        return bpf_map_lookup_elem(addrs_, &k, &v) == 0;
    }
    std::optional<pal_fqdn_use> useOf(uint64_t cgroupId) const {
        pal_fqdn_use u{};
        if (bpf_map_lookup_elem(use_, &cgroupId, &u) != 0) return std::nullopt;
        return u;
    }

    int addrs_ = -1;
    int use_ = -1;
    int queries_ = -1;
};

TEST_F(FqdnMaps, SweepDeletesWhatRanOutAndRecountsTheRest) {
    const uint64_t now = 1000 * kSecond;
    // Container 10 (running): every slot run out, the last over kFqdnSweepGraceNs ago ->
    // deleted.
    const auto expired = addrKey(10, "192.0.2.1");
    put(expired, {{{5, now - 61 * kSecond}, {6, now - 120 * kSecond}}});
    // Run out a second ago: not listed, but kept for the grace period (an answer may be
    // renewing it at this moment).
    const auto recent = addrKey(10, "192.0.2.5");
    put(recent, {{{5, now - kSecond}}});
    // One slot run out, one live for 30.5 s -> kept, listed with the live one.
    const auto oneLive = addrKey(10, "2001:db8::1");
    put(oneLive, {{{5, now - kSecond}, {6, now + 30 * kSecond + kSecond / 2}}});
    // Two live slots (two selectors of one address): one entry, listed twice.
    const auto twoLive = addrKey(10, "192.0.2.2");
    put(twoLive, {{{0, 0}, {7, now + 5 * kSecond}, {0, 0}, {8, now + 600 * kSecond}}});
    // Running out at this very nanosecond: the programs still allow it (they skip a slot
    // whose expiry is below now), and so the sweep keeps it.
    const auto atNow = addrKey(10, "192.0.2.4");
    put(atNow, {{{9, now}}});
    // No selector in any slot: nothing in force -> deleted.
    const auto freeSlots = addrKey(10, "192.0.2.3");
    put(freeSlots, {{{0, now + 100 * kSecond}}});
    // Container 20 is gone: deleted however long its addresses had left.
    const auto gone = addrKey(20, "192.0.2.1");
    put(gone, {{{5, now + 100 * kSecond}}});

    // Queries: one waiting, one older than PAL_DNS_QUERY_TIMEOUT_NS, one of a container gone.
    const auto waiting = putQuery(10, 1, now - kSecond);
    const auto stale = putQuery(10, 2, now - 31 * kSecond);
    const auto orphan = putQuery(20, 3, now - kSecond);

    putUse(10, 7, 3);   // counted up by the programs
    putUse(20, 1, 9);   // gone
    putUse(30, 2, 0);   // running, its addresses deleted meanwhile
    putUse(40, 0, 11);  // running, never learned anything, refused some

    const FqdnSweep sweep = this->sweep({10, 30, 40}, now);

    EXPECT_FALSE(has(expired));
    EXPECT_TRUE(has(recent));
    EXPECT_TRUE(hasQuery(waiting));
    EXPECT_FALSE(hasQuery(stale));
    EXPECT_FALSE(hasQuery(orphan));
    EXPECT_TRUE(has(oneLive));
    EXPECT_TRUE(has(twoLive));
    EXPECT_TRUE(has(atNow));
    EXPECT_FALSE(has(freeSlots));
    EXPECT_FALSE(has(gone));
    EXPECT_EQ(sweep.removed, 3u);

    // (address, selector) -> seconds left.
    std::map<std::tuple<std::string, uint64_t>, uint64_t> live;
    for (const FqdnLearned& l : sweep.live) {
        EXPECT_EQ(l.cgroupId, 10u);
        EXPECT_TRUE(live.emplace(std::tuple{l.address.str(), l.selector}, l.secondsLeft).second)
            << l.address.str() << " " << l.selector;
    }
    EXPECT_EQ(live, (std::map<std::tuple<std::string, uint64_t>, uint64_t>{
                        {{"2001:db8::1", 6}, 30},
                        {{"192.0.2.2", 7}, 5},
                        {{"192.0.2.2", 8}, 600},
                        {{"192.0.2.4", 9}, 0},
                    }));
    for (const FqdnLearned& l : sweep.live) {
        EXPECT_EQ(l.address.family, l.address.str().find(':') == std::string::npos ? 4 : 6);
    }

    // pal_fqdn_use: the entries left (addresses, not selectors), refused kept as it was.
    ASSERT_TRUE(useOf(10));
    EXPECT_EQ(useOf(10)->addresses, 4u);
    EXPECT_EQ(useOf(10)->refused, 3u);
    EXPECT_EQ(useOf(10)->pending, 1u);
    EXPECT_FALSE(useOf(20)) << "a container that is gone";
    ASSERT_TRUE(useOf(30));
    EXPECT_EQ(useOf(30)->addresses, 0u);
    ASSERT_TRUE(useOf(40));
    EXPECT_EQ(useOf(40)->refused, 11u);
    EXPECT_EQ(sweep.refused, (std::map<uint64_t, uint64_t>{{10, 3}, {30, 0}, {40, 11}}));

    // A second sweep, 10 s on: the 5 s slot and the one at `now` have run out, within the
    // grace period.
    const FqdnSweep later = this->sweep({10, 30, 40}, now + 10 * kSecond);
    EXPECT_TRUE(has(atNow));
    EXPECT_TRUE(has(twoLive));
    EXPECT_EQ(later.removed, 0u);
    ASSERT_EQ(later.live.size(), 2u);
    EXPECT_EQ(useOf(10)->addresses, 4u);
    // 100 s on, past it: only the address with 600 s left stays.
    const FqdnSweep last = this->sweep({10, 30, 40}, now + 100 * kSecond);
    EXPECT_FALSE(has(atNow));
    EXPECT_FALSE(has(recent));
    EXPECT_FALSE(has(oneLive));
    EXPECT_TRUE(has(twoLive));
    EXPECT_EQ(last.removed, 3u);
    EXPECT_EQ(useOf(10)->addresses, 1u);
}

// Nothing learned yet, nothing to do: empty maps give an empty sweep.
TEST_F(FqdnMaps, EmptyMapsSweepToNothing) {
    const FqdnSweep sweep = this->sweep({1, 2}, bpfClockNs());
    EXPECT_TRUE(sweep.live.empty());
    EXPECT_TRUE(sweep.refused.empty());
    EXPECT_EQ(sweep.removed, 0u);
}

}  // namespace
}  // namespace palisade
