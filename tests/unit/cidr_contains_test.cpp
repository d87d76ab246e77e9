// Cidr::contains, the one prefix containment of the agent (policy excepts
// inside their toCIDR, the compiler's prefix table): table-driven.
#include <gtest/gtest.h>

#include "policy/policy.h"

namespace palisade {
namespace {

Cidr cidr(const char* text) {
    std::string error;
    auto c = parseCidr(text, error);
    EXPECT_TRUE(c) << error;
    return c.value_or(Cidr{});
}

struct ContainsCase {
    const char* outer;
    const char* inner;
    bool contains;
};

class CidrContainsTest : public testing::TestWithParam<ContainsCase> {};

TEST_P(CidrContainsTest, Contains) {
    const ContainsCase& c = GetParam();
    EXPECT_EQ(cidr(c.outer).contains(cidr(c.inner)), c.contains) << c.outer << " ⊇ " << c.inner;
}

INSTANTIATE_TEST_SUITE_P(
    Cidr, CidrContainsTest,
    testing::Values(
        ContainsCase{"10.0.0.0/8", "10.1.2.0/24", true},
        ContainsCase{"10.0.0.0/8", "10.0.0.0/8", true},  // itself
        ContainsCase{"10.0.0.0/8", "11.0.0.0/24", false},
        ContainsCase{"10.1.2.0/24", "10.0.0.0/8", false},  // shorter: wider
        ContainsCase{"0.0.0.0/0", "198.18.0.1", true},
        ContainsCase{"198.18.0.0/15", "198.19.255.255", true},  // a bit inside a byte
        ContainsCase{"198.18.0.0/15", "198.20.0.0/16", false},
        ContainsCase{"198.18.0.0/16", "198.19.0.0/16", false},  // last bit differs
        ContainsCase{"192.0.2.128/25", "192.0.2.200", true},
        ContainsCase{"192.0.2.128/25", "192.0.2.127", false},
        ContainsCase{"198.18.0.1", "198.18.0.1", true},
        ContainsCase{"2001:db8::/32", "2001:db8:1::/48", true},
        ContainsCase{"2001:db8::/32", "2001:db9::/48", false},
        ContainsCase{"::/0", "fd00::1", true}, ContainsCase{"fd00::/8", "fd00:18::1", true},
        ContainsCase{"fc00::/7", "fd00::/8", true}, ContainsCase{"fc00::/7", "fe00::/8", false},
        ContainsCase{"fd00::1", "fd00::1/128", true}, ContainsCase{"fd00::1", "fd00::2", false},
        // Families never contain each other, not even ::/0 and 0.0.0.0/0.
        ContainsCase{"::/0", "0.0.0.0/0", false}, ContainsCase{"0.0.0.0/0", "::/0", false},
        ContainsCase{"::ffff:0.0.0.0/96", "10.0.0.1", false}));

TEST(Cidr, ContainmentIgnoresLocation) {
    Cidr outer = cidr("10.0.0.0/8");
    Cidr inner = cidr("10.0.0.0/8");
    inner.line = 7;
    inner.column = 9;
    EXPECT_TRUE(outer.contains(inner));
}

}  // namespace
}  // namespace palisade
