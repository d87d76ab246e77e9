// Test traffic shared by the tests and the bench tools: the frames that
// BPF_PROG_TEST_RUN judges, and the filler addresses of large rule sets.
#pragma once

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace palisade::test {

// An Ethernet frame (the test run strips it, as for a real cgroup_skb program)
// with an IPv4 or IPv6 packet to `dest` and a TCP/UDP port header. Throws
// std::invalid_argument when `dest` is not an address.
inline std::vector<uint8_t> packetTo(const std::string& dest, uint8_t protocol, uint16_t port) {
    int ethProto = 0;
    std::vector<uint8_t> pkt;
    uint8_t l4[8] = {};
    const uint16_t dport = htons(port);
    std::memcpy(l4 + 2, &dport, 2);
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, dest.c_str(), &a4) == 1) {
        iphdr ip{};
        ip.version = 4;
        ip.ihl = 5;
        ip.protocol = protocol;
        ip.daddr = a4.s_addr;
        ip.tot_len = htons(sizeof(ip) + sizeof(l4));
        pkt.assign(reinterpret_cast<uint8_t*>(&ip), reinterpret_cast<uint8_t*>(&ip) + sizeof(ip));
        ethProto = ETH_P_IP;
    } else if (inet_pton(AF_INET6, dest.c_str(), &a6) == 1) {
        ip6_hdr ip{};
        ip.ip6_vfc = 6 << 4;
        ip.ip6_nxt = protocol == IPPROTO_ICMP ? uint8_t{IPPROTO_ICMPV6} : protocol;
        ip.ip6_plen = htons(sizeof(l4));
        ip.ip6_dst = a6;
        pkt.assign(reinterpret_cast<uint8_t*>(&ip), reinterpret_cast<uint8_t*>(&ip) + sizeof(ip));
        ethProto = ETH_P_IPV6;
    } else {
        throw std::invalid_argument("packetTo: not an address: " + dest);
    }
    pkt.insert(pkt.end(), l4, l4 + sizeof(l4));
    ethhdr eth{};
    eth.h_proto = htons(static_cast<uint16_t>(ethProto));
    pkt.insert(pkt.begin(), reinterpret_cast<uint8_t*>(&eth),
               reinterpret_cast<uint8_t*>(&eth) + sizeof(eth));
    return pkt;
}

// The i-th of the 130,816 addresses 198.18.1.0 .. 198.19.255.255, visited in
// a scattered order (7919 is prime and shares no factor with 130,816), so
// that the first K are K distinct /32s: rule entries that traffic never goes
// to. bench/configs.py (filler) walks the same addresses.
inline constexpr uint64_t kFillerAddresses = 130816;

inline std::string fillerAddress(uint64_t i) {
    constexpr uint64_t kBase = (198ull << 24) | (18ull << 16) | (1ull << 8);  // 198.18.1.0
    const uint64_t a = kBase + (i * 7919) % kFillerAddresses;
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
           std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

}  // namespace palisade::test
