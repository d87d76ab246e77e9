// One table of egress decisions, checked twice: through BPF_PROG_TEST_RUN on the
// decision logic (decide_prog_test) and with real traffic from a netns container
// through the attached hooks (egress_test).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <vector>

extern "C" {
#include <palisade/abi.h>
}

namespace palisade::test {

// The "outside world" is the sandbox's bridge namespace: 198.18.0.1 and
// fd00:18::1, plus 198.18.0.200 (inside the except) and 198.18.1.1 (outside
// every rule), added to the bridge by the integration test.
inline constexpr const char* kEgressTablePolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: egress-table}
spec:
  selector: {name: "client*"}
  egress:
    - toCIDR: ["198.18.0.0/24"]
      except: ["198.18.0.128/25"]
      ports:
        - {port: 443, protocol: TCP}
        - {port: 8000, endPort: 8010, protocol: TCP}
        - {port: 53, protocol: UDP}
    - toCIDR: ["fd00:18::1/128"]
      ports: [{port: 443, protocol: TCP}]
    - toCIDR: ["198.18.0.1/32"]
      ports: [{protocol: ICMP}]
)";

struct EgressCase {
    const char* name;
    const char* dest;  // as the caller writes it (v4-mapped and NAT64 included)
    uint16_t port;
    uint8_t protocol;  // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP
    uint8_t verdict;   // under mode: enforce
    uint8_t reason;
    const char* judgedAs;  // the destination the event reports (destination.ip)
};

inline const std::vector<EgressCase> kEgressCases = {
    {"tcp allowed port", "198.18.0.1", 443, IPPROTO_TCP, PAL_VERDICT_ALLOW, PAL_REASON_NONE,
     "198.18.0.1"},
    {"tcp allowed port range", "198.18.0.1", 8005, IPPROTO_TCP, PAL_VERDICT_ALLOW, PAL_REASON_NONE,
     "198.18.0.1"},
    {"tcp port past the range", "198.18.0.1", 8011, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "198.18.0.1"},
    {"udp on a tcp-only port", "198.18.0.1", 443, IPPROTO_UDP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "198.18.0.1"},
    {"udp allowed port", "198.18.0.1", 53, IPPROTO_UDP, PAL_VERDICT_ALLOW, PAL_REASON_NONE,
     "198.18.0.1"},
    {"inside the except", "198.18.0.200", 443, IPPROTO_TCP, PAL_VERDICT_DENY, PAL_REASON_EXCEPT,
     "198.18.0.200"},
    {"outside every rule", "198.18.1.1", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "198.18.1.1"},
    {"v4-mapped allowed", "::ffff:198.18.0.1", 443, IPPROTO_TCP, PAL_VERDICT_ALLOW, PAL_REASON_NONE,
     "198.18.0.1"},
    {"v4-mapped judged as IPv4", "::ffff:198.18.1.1", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "198.18.1.1"},
    {"v4-mapped into the except", "::ffff:198.18.0.200", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_EXCEPT, "198.18.0.200"},
    {"nat64 judged as IPv4", "64:ff9b::c612:101", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "198.18.1.1"},
    {"udp via v4-mapped", "::ffff:198.18.1.1", 53, IPPROTO_UDP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "198.18.1.1"},
    {"ipv6 allowed by a v6 CIDR", "fd00:18::1", 443, IPPROTO_TCP, PAL_VERDICT_ALLOW,
     PAL_REASON_NONE, "fd00:18::1"},
    {"ipv6 wrong port", "fd00:18::1", 80, IPPROTO_TCP, PAL_VERDICT_DENY, PAL_REASON_NOT_ALLOWLISTED,
     "fd00:18::1"},
    {"ipv6 without a v6 CIDR", "fd00:18::2", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_IPV6_NOT_ALLOWED, "fd00:18::2"},
    {"ipv6 udp without a v6 CIDR", "fd00:18::2", 53, IPPROTO_UDP, PAL_VERDICT_DENY,
     PAL_REASON_IPV6_NOT_ALLOWED, "fd00:18::2"},
    // 6to4 and Teredo carry an IPv4 address but go to an IPv6 relay: IPv6, never judged as
    // the IPv4 inside, which the IPv4 rules allow here (docs/ipv6-bypass.md).
    {"6to4 is ipv6", "2002:c612:1::1", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_IPV6_NOT_ALLOWED, "2002:c612:1::1"},
    {"teredo is ipv6", "2001:0:c612:1::39ed:fefe", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_IPV6_NOT_ALLOWED, "2001:0:c612:1::39ed:fefe"},
    // Link-local leaves the namespace onto the link: not local.
    {"link-local is not local", "fe80::1", 443, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_IPV6_NOT_ALLOWED, "fe80::1"},
    {"loopback", "127.0.0.1", 9, IPPROTO_TCP, PAL_VERDICT_ALLOW, PAL_REASON_NONE, "127.0.0.1"},
    {"ipv6 loopback", "::1", 9, IPPROTO_TCP, PAL_VERDICT_ALLOW, PAL_REASON_NONE, "::1"},
    // NAT64 sends it to the translator, out of the namespace: not local.
    {"nat64 of loopback", "64:ff9b::7f00:1", 9, IPPROTO_TCP, PAL_VERDICT_DENY,
     PAL_REASON_NOT_ALLOWLISTED, "127.0.0.1"},
    {"icmp allowed", "198.18.0.1", 0, IPPROTO_ICMP, PAL_VERDICT_ALLOW, PAL_REASON_NONE,
     "198.18.0.1"},
    {"icmp refused", "198.18.1.1", 0, IPPROTO_ICMP, PAL_VERDICT_DENY, PAL_REASON_NOT_ALLOWLISTED,
     "198.18.1.1"},
};

}  // namespace palisade::test
