/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The egress decision: shared by every hook and by the test wrapper programs. */
#pragma once

#include "container.bpf.h"
#include "net.bpf.h"

struct pal_decision {
    __u8 verdict; /* enum pal_verdict */
    __u8 reason;  /* enum pal_reason */
};

static __always_inline bool pal_ports_allow(__u32 portset_id, __u8 proto_bit, __u16 port) {
    struct pal_portset* ps;

    if (!portset_id) return false;
    ps = bpf_map_lookup_elem(&pal_portsets, &portset_id);
    if (!ps) return false;
    for (__u32 i = 0; i < PAL_MAX_PORT_RANGES; i++) {
        const struct pal_port_range* r = &ps->ranges[i];

        if (i >= ps->count) break;
        if (!(r->protos & proto_bit)) continue;
        /* ICMP and other IP protocols have no port: the protocol decides. */
        if (proto_bit & (PAL_PROTO_ICMP | PAL_PROTO_OTHER)) return true;
        if (port >= r->first && port <= r->last) return true;
    }
    return false;
}

/* Why the allowlist of `epid` refuses `d`, or PAL_REASON_NONE if it allows it.
 * One LPM lookup: the longest prefix of this policy set that holds the address
 * already carries the union of every rule's ports there (agent/compiler/). */
static __always_inline __u8 pal_allowlist_reason(__u32 epid, const struct pal_dest* d) {
    struct pal_lpm_value* v;

    if (d->family == 4) {
        struct pal_lpm4_key k = {
            .prefixlen = PAL_LPM_EPID_BITS + 32,
            .epid = bpf_htonl(epid),
        };

        __builtin_memcpy(k.addr, d->addr, 4);
        v = bpf_map_lookup_elem(&pal_lpm4, &k);
        if (!v) return PAL_REASON_NOT_ALLOWLISTED;
    } else {
        struct pal_lpm6_key k = {
            .prefixlen = PAL_LPM_EPID_BITS + 128,
            .epid = bpf_htonl(epid),
        };

        __builtin_memcpy(k.addr, d->addr, 16);
        v = bpf_map_lookup_elem(&pal_lpm6, &k);
        if (!v) return PAL_REASON_IPV6_NOT_ALLOWED;
    }
    if (pal_ports_allow(v->portset, pal_proto_bit(d->protocol), d->port)) return PAL_REASON_NONE;
    return (v->flags & PAL_LPM_EXCEPT) ? PAL_REASON_EXCEPT : PAL_REASON_NOT_ALLOWLISTED;
}

/* The container that owns the address `d` goes to (0: none). */
static __always_inline __u64 pal_addr_owner(const struct pal_dest* d) {
    __u64* owner;

    if (d->family == 4) {
        __u32 a;

        __builtin_memcpy(&a, d->addr, 4);
        owner = bpf_map_lookup_elem(&pal_addr4, &a);
    } else {
        owner = bpf_map_lookup_elem(&pal_addr6, d->addr);
    }
    return owner ? *owner : 0;
}

/* SPEC §4.2: traffic between containers needs a toContainers rule of the
 * sender's policy set naming that peer and port; a toCIDR never suffices. */
static __always_inline __u8 pal_peer_reason(__u32 sender_epid, __u64 receiver, __u8 protocol,
                                            __u16 port) {
    struct pal_peer_key k = {.epid = sender_epid, .peer_cgroup = receiver};
    __u32* portset = bpf_map_lookup_elem(&pal_peers, &k);

    if (portset && pal_ports_allow(*portset, pal_proto_bit(protocol), port)) return PAL_REASON_NONE;
    return PAL_REASON_INTER_CONTAINER;
}

static __always_inline struct pal_decision pal_verdict_for(const struct pal_subject* s,
                                                           __u8 reason) {
    struct pal_decision dec = {.verdict = PAL_VERDICT_ALLOW, .reason = reason};

    if (reason != PAL_REASON_NONE)
        dec.verdict = s->policy.mode == PAL_MODE_ENFORCE ? PAL_VERDICT_DENY : PAL_VERDICT_AUDIT;
    return dec;
}

/* `d` is not const: the destination's container is noted for the event. */
static __always_inline struct pal_decision pal_decide_egress(const struct pal_subject* s,
                                                             struct pal_dest* d) {
    __u8 reason;

    if (s->policy.mode == PAL_MODE_ALLOW || pal_dest_is_local(d))
        return pal_verdict_for(s, PAL_REASON_NONE);
    if (s->policy.flags & PAL_POLICY_ISOLATED) d->peer_cgroup = pal_addr_owner(d);
    if (d->peer_cgroup && d->peer_cgroup != s->cgroup_id)
        reason = pal_peer_reason(s->epid, d->peer_cgroup, d->protocol, d->port);
    else if (s->policy.flags & PAL_POLICY_UNMATCHED)
        reason = PAL_REASON_UNMATCHED;
    else
        reason = pal_allowlist_reason(s->epid, d);
    return pal_verdict_for(s, reason);
}

/* AF_PACKET and SOCK_RAW creation (SPEC §4.4). */
static __always_inline struct pal_decision pal_decide_socket(const struct pal_subject* s,
                                                             __u32 family, __u32 type) {
    bool raw = family == PAL_AF_PACKET || type == PAL_SOCK_RAW;

    if (!raw || s->policy.mode == PAL_MODE_ALLOW || (s->policy.flags & PAL_POLICY_RAW_ALLOW))
        return pal_verdict_for(s, PAL_REASON_NONE);
    return pal_verdict_for(s, PAL_REASON_RAW_SOCKET);
}
