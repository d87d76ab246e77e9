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

// An Ethernet frame with an IPv4 packet from src to dst of `protocol` whose transport header
// `l4` is followed by `payload`.
inline std::vector<uint8_t> ipv4Packet(const std::string& src, const std::string& dst,
                                       uint8_t protocol, const std::vector<uint8_t>& l4,
                                       const std::vector<uint8_t>& payload) {
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.ttl = 64;
    ip.protocol = protocol;
    ip.tot_len = htons(static_cast<uint16_t>(sizeof(ip) + l4.size() + payload.size()));
    if (inet_pton(AF_INET, src.c_str(), &ip.saddr) != 1 ||
        inet_pton(AF_INET, dst.c_str(), &ip.daddr) != 1) {
        throw std::invalid_argument("ipv4Packet: not IPv4 addresses: " + src + ", " + dst);
    }
    ethhdr eth{};
    eth.h_proto = htons(ETH_P_IP);
    // One allocation, filled in place (GCC 12 warns falsely about inserts into a small vector).
    std::vector<uint8_t> pkt(sizeof(eth) + sizeof(ip) + l4.size() + payload.size());
    std::memcpy(pkt.data(), &eth, sizeof(eth));
    std::memcpy(pkt.data() + sizeof(eth), &ip, sizeof(ip));
    std::memcpy(pkt.data() + sizeof(eth) + sizeof(ip), l4.data(), l4.size());
    if (!payload.empty()) {
        std::memcpy(pkt.data() + sizeof(eth) + sizeof(ip) + l4.size(), payload.data(),
                    payload.size());
    }
    return pkt;
}

// An Ethernet frame with an IPv4 UDP datagram from src:sport to dst:dport carrying `payload`.
inline std::vector<uint8_t> udpPacket(const std::string& src, uint16_t sport,
                                      const std::string& dst, uint16_t dport,
                                      const std::vector<uint8_t>& payload) {
    const uint16_t len = static_cast<uint16_t>(8 + payload.size());
    const std::vector<uint8_t> udp = {static_cast<uint8_t>(sport >> 8),
                                      static_cast<uint8_t>(sport),
                                      static_cast<uint8_t>(dport >> 8),
                                      static_cast<uint8_t>(dport),
                                      static_cast<uint8_t>(len >> 8),
                                      static_cast<uint8_t>(len),
                                      0,
                                      0};
    return ipv4Packet(src, dst, IPPROTO_UDP, udp, payload);
}

// An Ethernet frame with an IPv4 TCP segment (ACK set, and SYN when `syn`) from src:sport to
// dst:dport, sequence number `seq`, carrying `payload`.
inline std::vector<uint8_t> tcpPacket(const std::string& src, uint16_t sport,
                                      const std::string& dst, uint16_t dport, uint32_t seq,
                                      bool syn, const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> tcp(20, 0);
    const uint8_t fixed[] = {static_cast<uint8_t>(sport >> 8), static_cast<uint8_t>(sport),
                             static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport),
                             static_cast<uint8_t>(seq >> 24),  static_cast<uint8_t>(seq >> 16),
                             static_cast<uint8_t>(seq >> 8),   static_cast<uint8_t>(seq)};
    std::memcpy(tcp.data(), fixed, sizeof(fixed));
    tcp[12] = 5 << 4;                                   // data offset: 20 bytes
    tcp[13] = static_cast<uint8_t>(syn ? 0x12 : 0x10);  // SYN+ACK or ACK
    return ipv4Packet(src, dst, IPPROTO_TCP, tcp, payload);
}

// `message` with its 2-byte length in front, as DNS over TCP sends it.
inline std::vector<uint8_t> withLength(const std::vector<uint8_t>& message) {
    std::vector<uint8_t> out = {static_cast<uint8_t>(message.size() >> 8),
                                static_cast<uint8_t>(message.size())};
    out.insert(out.end(), message.begin(), message.end());
    return out;
}

// A DNS message: a query for `name` (type A), or (`answer`) its NOERROR answer with one A
// record per address, each owner a compression pointer to the question.
inline std::vector<uint8_t> dnsMessage(bool answer, const std::string& name, uint16_t id,
                                       const std::vector<std::string>& addresses = {}) {
    std::vector<uint8_t> m = {static_cast<uint8_t>(id >> 8),
                              static_cast<uint8_t>(id),
                              static_cast<uint8_t>(answer ? 0x81 : 0x01),
                              static_cast<uint8_t>(answer ? 0x80 : 0x00),
                              0,
                              1,
                              0,
                              static_cast<uint8_t>(answer ? addresses.size() : 0),
                              0,
                              0,
                              0,
                              0};
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        m.push_back(static_cast<uint8_t>(dot - start));
        m.insert(m.end(), name.begin() + static_cast<long>(start),
                 name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    m.insert(m.end(), {0, 0, 1, 0, 1});  // root, QTYPE A, QCLASS IN
    for (size_t i = 0; answer && i < addresses.size(); i++) {
        in_addr a{};
        if (inet_pton(AF_INET, addresses[i].c_str(), &a) != 1) {
            throw std::invalid_argument("dnsMessage: not an IPv4 address: " + addresses[i]);
        }
        m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4});  // TTL 300, RDLENGTH 4
        const auto* b = reinterpret_cast<const uint8_t*>(&a.s_addr);
        m.insert(m.end(), b, b + 4);
    }
    return m;
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
