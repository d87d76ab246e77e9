/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Constants vmlinux.h lacks (they are macros in the UAPI headers) and destination helpers. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <palisade/abi.h>

#define PAL_AF_INET 2
#define PAL_AF_INET6 10
#define PAL_AF_PACKET 17
#define PAL_AF_XDP 44
#define PAL_SOCK_STREAM 1
#define PAL_SOCK_DGRAM 2
#define PAL_SOCK_RAW 3
#define PAL_SOCK_PACKET 10
#define PAL_ETH_P_IP 0x0800
#define PAL_ETH_P_IPV6 0x86DD
#define PAL_IPPROTO_ICMPV6 58
#define PAL_IPPROTO_L2TP 115
#define PAL_IPPROTO_SCTP 132
#define PAL_SIGKILL 9
#define PAL_EPERM 1

/* A destination as it is judged. */
struct pal_dest {
    __u8 family;      /* 4 or 6 */
    __u8 protocol;    /* IPPROTO_* */
    __u16 port;       /* host byte order; 0 for ICMP and raw */
    __u8 orig_family; /* 6 when addr was taken from a v4-mapped or NAT64 IPv6 address */
    __u8 nat64;       /* 1 when from a NAT64 address: it leaves the namespace */
    __u8 host_netns;  /* 1 when the socket is in the host's network namespace */
    __u8 pad;
    __u8 addr[16];
    __u8 orig[16];
    __u64 peer_cgroup; /* the container that owns addr, once looked up (0: none) */
    __u64 fqdn;        /* PAL_REASON_FQDN_NOT_ALLOWED: the toFQDNs selector addr was learned for */
};

static __always_inline void pal_dest_set_v4(struct pal_dest* d, __u32 ip4_be) {
    d->family = 4;
    __builtin_memcpy(d->addr, &ip4_be, 4);
}

/* Sets an IPv6 destination, judging an IPv4-mapped (::ffff:a.b.c.d) or NAT64
 * address as the IPv4 address it carries (docs/reference/enforcement.md#ipv6): otherwise an IPv4
 * policy could be bypassed through an AF_INET6 socket. */
static __always_inline void pal_dest_set_v6(struct pal_dest* d, const __u32 w[4],
                                            const struct pal_config* cfg) {
    bool mapped = w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
    bool nat64 = false;

    if (cfg && cfg->nat64_prefixlen == 96) {
        __u32 p[3];

        __builtin_memcpy(p, cfg->nat64_prefix, sizeof(p));
        nat64 = w[0] == p[0] && w[1] == p[1] && w[2] == p[2];
    }
    if (mapped || nat64) {
        d->orig_family = 6;
        d->nat64 = !mapped;
        __builtin_memcpy(d->orig, w, 16);
        pal_dest_set_v4(d, w[3]);
        return;
    }
    d->family = 6;
    __builtin_memcpy(d->addr, w, 16);
}

/* Loopback and the unspecified address reach only the container's own network
 * namespace (docs/reference/enforcement.md#loopback): not from the host's, where they reach
 * the host's services, and not through NAT64, which sends them to a translator. */
static __always_inline bool pal_dest_is_local(const struct pal_dest* d) {
    __u32 w[4];

    if (d->nat64 || d->host_netns) return false;
    __builtin_memcpy(w, d->addr, sizeof(w));
    if (d->family == 4) return d->addr[0] == 127 || w[0] == 0;
    if (w[0] || w[1] || w[2]) return false;
    return w[3] == 0 || w[3] == bpf_htonl(1);
}

/* 127.0.0.0/8 or ::1. */
static __always_inline bool pal_dest_is_loopback(const struct pal_dest* d) {
    __u32 w[4];

    __builtin_memcpy(w, d->addr, sizeof(w));
    if (d->family == 4) return d->addr[0] == 127;
    return !w[0] && !w[1] && !w[2] && w[3] == bpf_htonl(1);
}

static __always_inline __u8 pal_proto_bit(__u8 protocol) {
    switch (protocol) {
        case IPPROTO_TCP:
            return PAL_PROTO_TCP;
        case IPPROTO_UDP:
            return PAL_PROTO_UDP;
        case IPPROTO_ICMP:
        case PAL_IPPROTO_ICMPV6:
            return PAL_PROTO_ICMP;
        default:
            return PAL_PROTO_OTHER;
    }
}
