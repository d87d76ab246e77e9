/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The destination of an IP packet (cgroup_skb), judged like a socket's. */
#pragma once

#include "maps.bpf.h"
#include "net.bpf.h"

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

static __always_inline bool pal_skb_dest(struct __sk_buff* skb, struct pal_dest* d) {
    return pal_skb_endpoint(skb, d, false);
}

/* The sender of a packet received (cgroup_skb/ingress): its address in addr,
 * the receiver's port in port. */
static __always_inline bool pal_skb_sender(struct __sk_buff* skb, struct pal_dest* d) {
    return pal_skb_endpoint(skb, d, true);
}
