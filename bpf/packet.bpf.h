/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The destination of an IP packet (cgroup_skb), judged like a socket's. */
#pragma once

#include "maps.bpf.h"
#include "net.bpf.h"

#define PAL_LOOPBACK_IFINDEX 1 /* lo, in every network namespace */

/* An IP packet's destination (or, for `sender`, its source) address and its
 * destination port: the port is the receiver's either way. */
static __always_inline bool pal_skb_endpoint(struct __sk_buff* skb, struct pal_dest* d,
                                             bool sender) {
    __u32 l4 = 0;

    if (skb->protocol == bpf_htons(PAL_ETH_P_IP)) {
        struct iphdr ip;

        if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip))) return false;
        pal_dest_set_v4(d, sender ? ip.saddr : ip.daddr);
        d->protocol = ip.protocol;
        l4 = ip.ihl * 4;
    } else if (skb->protocol == bpf_htons(PAL_ETH_P_IPV6)) {
        struct ipv6hdr ip6;
        __u32 w[4];

        if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6))) return false;
        if (sender)
            __builtin_memcpy(w, &ip6.saddr, sizeof(w));
        else
            __builtin_memcpy(w, &ip6.daddr, sizeof(w));
        pal_dest_set_v6(d, w, pal_cfg());
        /* Extension headers are judged as the protocol "other". */
        d->protocol = ip6.nexthdr;
        l4 = sizeof(ip6);
    } else {
        return false;
    }
    if (d->protocol == IPPROTO_TCP || d->protocol == IPPROTO_UDP) {
        __be16 ports[2];

        if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) == 0) d->port = bpf_ntohs(ports[1]);
    }
    return true;
}

#define PAL_IPOPT_END 0
#define PAL_IPOPT_NOOP 1
#define PAL_IPOPT_LSRR 0x83
#define PAL_IPOPT_SSRR 0x89
#define PAL_IPV6_HOPOPTS 0
#define PAL_IPV6_ROUTING 43
#define PAL_IPV6_DSTOPTS 60

/* Whether an IPv4 header's options (after the 20 fixed bytes, `len` of them) hold a loose
 * or strict source route. A list that does not parse, or that holds more than
 * PAL_IPOPT_SCAN options before its end (padding it with no-ops to hide a route), counts
 * as one: real lists have a few. */
#define PAL_IPOPT_SCAN 8
static __always_inline bool pal_ipv4_source_route(struct __sk_buff* skb, __u32 len) {
    /* 40 bytes at most; indexes are masked to the buffer, which the verifier can follow
     * where it loses the bound that `at < len` gives. */
    __u8 opts[64];
    __u32 at = 0;

    if (len == 0 || len > 40) return false;
    if (bpf_skb_load_bytes(skb, sizeof(struct iphdr), opts, len)) return true;
    for (int n = 0; n < PAL_IPOPT_SCAN; n++) {
        __u8 type, olen;

        if (at >= len) return false;
        type = opts[at & 63];
        if (type == PAL_IPOPT_END) return false;
        if (type == PAL_IPOPT_NOOP) {
            at++;
            continue;
        }
        if (type == PAL_IPOPT_LSRR || type == PAL_IPOPT_SSRR) return true;
        if (at + 1 >= len) return true; /* no length byte */
        olen = opts[(at + 1) & 63];
        if (olen < 2) return true;
        at += olen;
    }
    return at < len;
}

/* Whether a packet names its own route: an IPv4 loose or strict source route, or an IPv6
 * routing header (setsockopt IPV6_RTHDR sets a segment routing header without privileges).
 * Its destination address is then only the first hop, while the socket hooks judged the
 * last one (docs/reference/enforcement.md#source-routes). */
static __always_inline bool pal_skb_source_routed(struct __sk_buff* skb) {
    if (skb->protocol == bpf_htons(PAL_ETH_P_IP)) {
        __u8 vihl;

        if (bpf_skb_load_bytes(skb, 0, &vihl, 1)) return false;
        return (vihl & 0xf) > 5 && pal_ipv4_source_route(skb, (vihl & 0xf) * 4 - 20);
    }
    if (skb->protocol == bpf_htons(PAL_ETH_P_IPV6)) {
        __u32 off = sizeof(struct ipv6hdr);
        __u8 nexthdr, ext[2];

        if (bpf_skb_load_bytes(skb, 6, &nexthdr, 1)) return false;
        /* The routing header follows hop-by-hop and destination options, if any; more of
         * them than a packet has any use for count as hiding one. */
        for (int n = 0; n < 4; n++) {
            if (nexthdr == PAL_IPV6_ROUTING) return true;
            if (nexthdr != PAL_IPV6_HOPOPTS && nexthdr != PAL_IPV6_DSTOPTS) return false;
            if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext))) return true;
            nexthdr = ext[0];
            off += (ext[1] + 1) * 8;
        }
        return true;
    }
    return false;
}

static __always_inline bool pal_skb_dest(struct __sk_buff* skb, struct pal_dest* d) {
    return pal_skb_endpoint(skb, d, false);
}

/* The sender of a packet received (cgroup_skb/ingress): its address in addr,
 * the receiver's port in port. */
static __always_inline bool pal_skb_sender(struct __sk_buff* skb, struct pal_dest* d) {
    return pal_skb_endpoint(skb, d, true);
}
