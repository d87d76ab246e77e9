#include <gtest/gtest.h>

#include "policy/policy.h"

namespace palisade {
namespace {

struct ValidCidr {
    std::string text;
    std::string canonical;
    bool v6;
    int prefixLen;
};

class CidrValidTest : public testing::TestWithParam<ValidCidr> {};

TEST_P(CidrValidTest, ParsesToCanonicalForm) {
    const ValidCidr& c = GetParam();
    std::string error;
    auto cidr = parseCidr(c.text, error);
    ASSERT_TRUE(cidr) << error;
    EXPECT_EQ(cidr->str(), c.canonical);
    EXPECT_EQ(cidr->v6, c.v6);
    EXPECT_EQ(cidr->prefixLen, c.prefixLen);
    EXPECT_EQ(error, "");
}

INSTANTIATE_TEST_SUITE_P(
    Cidr, CidrValidTest,
    testing::Values(ValidCidr{"10.0.0.0/8", "10.0.0.0/8", false, 8},
                    ValidCidr{"52.94.1.0/24", "52.94.1.0/24", false, 24},
                    ValidCidr{"0.0.0.0/0", "0.0.0.0/0", false, 0},
                    ValidCidr{"198.51.100.53", "198.51.100.53/32", false, 32},
                    ValidCidr{"198.51.100.53/32", "198.51.100.53/32", false, 32},
                    ValidCidr{"10.0.0.0/08", "10.0.0.0/8", false, 8},
                    ValidCidr{"2001:db8:10::/48", "2001:db8:10::/48", true, 48},
                    ValidCidr{"2001:0DB8:0010:0000::/48", "2001:db8:10::/48", true, 48},
                    ValidCidr{"::/0", "::/0", true, 0}, ValidCidr{"::1", "::1/128", true, 128},
                    ValidCidr{"64:ff9b::/96", "64:ff9b::/96", true, 96},
                    ValidCidr{"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", true, 104}));

TEST(Cidr, StoresIpv4InTheFirstFourBytes) {
    std::string error;
    auto cidr = parseCidr("192.0.2.0/24", error);
    ASSERT_TRUE(cidr);
    std::array<uint8_t, 16> expected{192, 0, 2, 0};
    EXPECT_EQ(cidr->addr, expected);
}

TEST(Cidr, EqualityIgnoresLocation) {
    std::string error;
    auto a = parseCidr("10.0.0.0/8", error);
    auto b = parseCidr("10.0.0.0/8", error);
    ASSERT_TRUE(a && b);
    b->line = 3;
    b->column = 4;
    EXPECT_EQ(*a, *b);
    EXPECT_FALSE(*a == *parseCidr("10.0.0.0/9", error));
    EXPECT_FALSE(*parseCidr("::/0", error) == *parseCidr("0.0.0.0/0", error));
}

struct InvalidCidr {
    std::string text;
    std::string error;
};

class CidrInvalidTest : public testing::TestWithParam<InvalidCidr> {};

TEST_P(CidrInvalidTest, ExplainsTheProblem) {
    std::string error;
    EXPECT_FALSE(parseCidr(GetParam().text, error));
    EXPECT_EQ(error, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cidr, CidrInvalidTest,
    testing::Values(
        InvalidCidr{"10.0.0.1/8", "CIDR 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
        InvalidCidr{"10.1.2.3/12",
                    "CIDR 10.1.2.3/12 has host bits set (did you mean 10.0.0.0/12?)"},
        InvalidCidr{"2001:db8::1/32",
                    "CIDR 2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)"},
        InvalidCidr{"10.0.0.0/33",
                    "invalid CIDR \"10.0.0.0/33\": prefix length 33 is out of range for IPv4 "
                    "(0-32)"},
        InvalidCidr{"::/129",
                    "invalid CIDR \"::/129\": prefix length 129 is out of range for IPv6 (0-128)"},
        InvalidCidr{"10.0.0.0/", "invalid CIDR \"10.0.0.0/\": the prefix length must be a number"},
        InvalidCidr{"10.0.0.0/-1",
                    "invalid CIDR \"10.0.0.0/-1\": the prefix length must be a number"},
        InvalidCidr{"10.0.0.0/8a",
                    "invalid CIDR \"10.0.0.0/8a\": the prefix length must be a number"},
        InvalidCidr{"10.0.0.0/1000",
                    "invalid CIDR \"10.0.0.0/1000\": the prefix length must be a number"},
        InvalidCidr{"10.0.0.300/8",
                    "invalid CIDR \"10.0.0.300/8\": \"10.0.0.300\" is not an IPv4 or IPv6 address"},
        InvalidCidr{"10.0.0/8",
                    "invalid CIDR \"10.0.0/8\": \"10.0.0\" is not an IPv4 or IPv6 address"},
        InvalidCidr{"example.com/32",
                    "invalid CIDR \"example.com/32\": \"example.com\" is not an IPv4 or IPv6 "
                    "address"},
        InvalidCidr{"", "invalid CIDR \"\": \"\" is not an IPv4 or IPv6 address"}));

}  // namespace
}  // namespace palisade
