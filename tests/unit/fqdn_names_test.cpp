// toFQDNs selectors as the BPF programs look them up (docs/reference/enforcement.md#fqdn): the
// pal_fqdn_names key in DNS wire form, the selector id, and what a pattern matches.
#include "compiler/fqdn_names.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace palisade {
namespace {

FqdnSelector matchName(const std::string& name) {
    FqdnSelector s;
    s.name = name;
    return s;
}

FqdnSelector matchPattern(const std::string& parent) {
    FqdnSelector s;
    s.pattern = true;
    s.name = parent;
    return s;
}

// The wire form up to and including its root label, and whether every byte after it is zero.
std::string wireOf(const pal_fqdn_name& key, bool& zeroPadded) {
    size_t at = 0;
    while (at < sizeof(key.name) && key.name[at] != 0) at += key.name[at] + 1;
    zeroPadded = true;
    for (size_t i = at + 1; i < sizeof(key.name); i++) zeroPadded = zeroPadded && key.name[i] == 0;
    return std::string(reinterpret_cast<const char*>(key.name), std::min(at + 1, sizeof(key.name)));
}

TEST(FqdnNames, NameKeyIsTheWireFormZeroPadded) {
    const pal_fqdn_name key = fqdnNameKey(matchName("api.stripe.com"));
    EXPECT_EQ(key.kind, uint32_t{PAL_FQDN_EXACT});
    bool zeroPadded = false;
    EXPECT_EQ(wireOf(key, zeroPadded), std::string("\x03"
                                                   "api"
                                                   "\x06"
                                                   "stripe"
                                                   "\x03"
                                                   "com",
                                                   15) +
                                           std::string(1, '\0'));
    EXPECT_TRUE(zeroPadded);
}

// A pattern "*.<name>" is keyed under <name>, with the kind telling it from a matchName of
// <name> itself.
TEST(FqdnNames, PatternIsKeyedUnderItsParent) {
    const pal_fqdn_name pattern = fqdnNameKey(matchPattern("s3.amazonaws.com"));
    const pal_fqdn_name parent = fqdnNameKey(matchName("s3.amazonaws.com"));
    EXPECT_EQ(pattern.kind, uint32_t{PAL_FQDN_ONE_LABEL});
    EXPECT_EQ(parent.kind, uint32_t{PAL_FQDN_EXACT});
    bool zeroPadded = false;
    EXPECT_EQ(wireOf(pattern, zeroPadded), std::string("\x02"
                                                       "s3"
                                                       "\x09"
                                                       "amazonaws"
                                                       "\x03"
                                                       "com"
                                                       "\0",
                                                       18));
    EXPECT_TRUE(zeroPadded);
    EXPECT_EQ(std::memcmp(pattern.name, parent.name, sizeof(pattern.name)), 0);
}

// The longest name the parser lets through (253 characters) is 255 bytes in wire form.
TEST(FqdnNames, LongestNameFits) {
    const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                             std::string(63, 'c') + "." + std::string(61, 'd');
    ASSERT_EQ(name.size(), 253u);
    const pal_fqdn_name key = fqdnNameKey(matchName(name));
    EXPECT_EQ(key.name[0], 63);
    EXPECT_EQ(key.name[64], 63);
    EXPECT_EQ(key.name[128], 63);
    EXPECT_EQ(key.name[192], 61);
    EXPECT_EQ(key.name[193], 'd');
    EXPECT_EQ(key.name[253], 'd');
    EXPECT_EQ(key.name[254], 0) << "the root label";
    EXPECT_EQ(key.name[255], 0);
    bool zeroPadded = false;
    EXPECT_EQ(wireOf(key, zeroPadded).size(), 255u);
}

TEST(FqdnNames, WhatIsNoDnsNameThrows) {
    EXPECT_THROW(fqdnNameKey(matchName("a..b")), std::invalid_argument);
    EXPECT_THROW(fqdnNameKey(matchName(std::string(64, 'a') + ".com")), std::invalid_argument);
    EXPECT_THROW(fqdnNameKey(matchName("")), std::invalid_argument);
}

TEST(FqdnNames, SelectorIdsAreStable63BitHashesOfTheKey) {
    const pal_fqdn_name name = fqdnNameKey(matchName("api.stripe.com"));
    const uint64_t id = fqdnSelectorId(name);
    EXPECT_NE(id, 0u);
    EXPECT_LT(id, uint64_t{1} << 63);
    EXPECT_EQ(id & PAL_FQDN_SELECTOR, 0u);
    EXPECT_EQ(fqdnSelectorId(fqdnNameKey(matchName("api.stripe.com"))), id) << "equal keys";
    EXPECT_NE(fqdnSelectorId(fqdnNameKey(matchName("api.stripe.org"))), id);
    // The same text as a name and as a pattern's parent: two selectors.
    const pal_fqdn_name exact = fqdnNameKey(matchName("s3.amazonaws.com"));
    const pal_fqdn_name pattern = fqdnNameKey(matchPattern("s3.amazonaws.com"));
    EXPECT_NE(fqdnSelectorId(exact), fqdnSelectorId(pattern));
    for (const auto& key : {exact, pattern}) {
        EXPECT_NE(fqdnSelectorId(key), 0u);
        EXPECT_LT(fqdnSelectorId(key), uint64_t{1} << 63);
    }
}

// "*.x.com" matches one label in front of x.com: not x.com itself, not two labels.
TEST(FqdnNames, PatternMatchesOneLabelOnly) {
    EXPECT_TRUE(fqdnPatternMatches("x.com", "a.x.com"));
    EXPECT_TRUE(fqdnPatternMatches("x.com", "some-host_1.x.com"));
    EXPECT_FALSE(fqdnPatternMatches("x.com", "x.com"));
    EXPECT_FALSE(fqdnPatternMatches("x.com", "a.b.x.com"));
    EXPECT_FALSE(fqdnPatternMatches("x.com", "ax.com"));
    EXPECT_FALSE(fqdnPatternMatches("x.com", ".x.com")) << "an empty label";
    EXPECT_FALSE(fqdnPatternMatches("x.com", "a.y.com"));
    EXPECT_FALSE(fqdnPatternMatches("x.com", "a.x.com.evil"));
}

}  // namespace
}  // namespace palisade
