/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The egress decision: shared by every hook and by the test wrapper programs. */
#pragma once

#include "container.bpf.h"
#include "net.bpf.h"

struct pal_decision {
    __u8 verdict; /* enum pal_verdict */
    __u8 reason;  /* enum pal_reason */
};

static __always_inline bool pal_range_allows(const struct pal_port_range* r, __u8 proto_bit,
                                             __u16 port) {
    if (!(r->protos & proto_bit)) return false;
    /* ICMP and other IP protocols have no port: the protocol decides. */
    if (proto_bit & (PAL_PROTO_ICMP | PAL_PROTO_OTHER)) return true;
    return port >= r->first && port <= r->last;
}

static __always_inline bool pal_ports_allow(const struct pal_ports* p, __u8 proto_bit, __u16 port) {
    struct pal_portset* ps;

    if (!p->portset) return pal_range_allows(&p->range, proto_bit, port);
    ps = bpf_map_lookup_elem(&pal_portsets, &p->portset);
    if (!ps) return false;
    for (__u32 i = 0; i < PAL_MAX_PORT_RANGES; i++) {
        if (i >= ps->count) break;
        if (pal_range_allows(&ps->ranges[i], proto_bit, port)) return true;
    }
    return false;
}

/* The entry of policy set `epid` for class `class_id`: its own, or, when the set's rules
 * hold the class as they hold its parent, the parent's, up to PAL_CLASS_WALK classes
 * (docs/prefix-classes.md#the-walk). */
static __always_inline struct pal_lpm_value* pal_class_entry(__u32 epid, __u32 class_id) {
    struct pal_class_key c = {.epid = epid, .class_id = class_id};
    struct pal_class_key up = {.epid = PAL_PARENTS_EPID | (epid & PAL_SLOT_BIT)};
    struct pal_lpm_value* v;

    for (int i = 0; i < PAL_CLASS_WALK; i++) {
        v = bpf_map_lookup_elem(&pal_classes, &c);
        if (v) return v;
        up.class_id = c.class_id;
        v = bpf_map_lookup_elem(&pal_classes, &up);
        if (!v || !v->parent) return NULL;
        c.class_id = v->parent;
    }
    return NULL;
}

/* What the policy set `epid` (or its bind key) allows at `d`: the class of the most
 * specific prefix on the node holding `d`, its single address first when the set has
 * any (`hosts`), then the tries; then the set's entry for that class
 * (include/palisade/abi.h). */
static __always_inline struct pal_lpm_value* pal_prefix_of(__u32 epid, bool hosts,
                                                           const struct pal_dest* d) {
    const __u32 slot = epid & PAL_SLOT_BIT;
    __u32* class_id = NULL;

    if (d->family == 4) {
        struct pal_host4_key h = {.slot = slot};
        struct pal_lpm4_key k = {
            .prefixlen = PAL_LPM_SLOT_BITS + 32,
            .slot = bpf_htonl(slot),
        };

        if (hosts) {
            __builtin_memcpy(h.addr, d->addr, 4);
            class_id = bpf_map_lookup_elem(&pal_hosts4, &h);
        }
        if (!class_id) {
            __builtin_memcpy(k.addr, d->addr, 4);
            class_id = bpf_map_lookup_elem(&pal_lpm4, &k);
        }
    } else {
        struct pal_host6_key h = {.slot = slot};
        struct pal_lpm6_key k = {
            .prefixlen = PAL_LPM_SLOT_BITS + 128,
            .slot = bpf_htonl(slot),
        };

        if (hosts) {
            __builtin_memcpy(h.addr, d->addr, 16);
            class_id = bpf_map_lookup_elem(&pal_hosts6, &h);
        }
        if (!class_id) {
            __builtin_memcpy(k.addr, d->addr, 16);
            class_id = bpf_map_lookup_elem(&pal_lpm6, &k);
        }
    }
    if (!class_id) return NULL;
    return pal_class_entry(epid, *class_id);
}

/* Why the allowlist of `s` refuses `d`, or PAL_REASON_NONE if it allows it.
 * The set's entry for the address's class already carries the union of every
 * rule's ports there (agent/compiler/). */
static __always_inline __u8 pal_allowlist_reason(const struct pal_subject* s,
                                                 const struct pal_dest* d) {
    struct pal_lpm_value* v = pal_prefix_of(s->epid, s->policy.flags & PAL_POLICY_HOSTS, d);

    if (!v) return d->family == 4 ? PAL_REASON_NOT_ALLOWLISTED : PAL_REASON_IPV6_NOT_ALLOWED;
    if (pal_ports_allow(&v->ports, pal_proto_bit(d->protocol), d->port)) return PAL_REASON_NONE;
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

/* The endpoint of container `cgroup_id` (docs/reference/enforcement.md#pods): the oldest
 * container of the pod it is in (pal_endpoints), which the pod's addresses map to and which
 * toContainers rules name; itself when it is in no pod or is that oldest. */
static __always_inline __u64 pal_endpoint_of(__u64 cgroup_id) {
    __u64* endpoint = bpf_map_lookup_elem(&pal_endpoints, &cgroup_id);

    return endpoint ? *endpoint : cgroup_id;
}

/* docs/reference/enforcement.md#inter-container: traffic between containers needs a toContainers
 * rule of the sender's policy set naming that peer and port; a toCIDR never suffices. */
static __always_inline __u8 pal_peer_reason(__u32 sender_epid, __u64 receiver, __u8 protocol,
                                            __u16 port) {
    struct pal_peer_key k = {.epid = sender_epid, .peer_cgroup = receiver};
    struct pal_ports* ports = bpf_map_lookup_elem(&pal_peers, &k);

    if (ports && pal_ports_allow(ports, pal_proto_bit(protocol), port)) return PAL_REASON_NONE;
    return PAL_REASON_INTER_CONTAINER;
}

/* docs/reference/enforcement.md#fqdn: an address the container learned from a DNS answer for a
 * toFQDNs selector of its policy set, within the answer's TTL, on the selector's ports. Else
 * `reason` stands, or, when the address was learned for a selector that does not allow this,
 * PAL_REASON_FQDN_NOT_ALLOWED with the selector noted in `d`. */
static __always_inline __u8 pal_fqdn_reason(const struct pal_subject* s, struct pal_dest* d,
                                            __u8 reason) {
    struct pal_fqdn_addr_key k = {.cgroup_id = s->cgroup_id, .family = d->family};
    struct pal_fqdn_addr* a;
    __u64 now;

    __builtin_memcpy(k.addr, d->addr, 16);
    a = bpf_map_lookup_elem(&pal_fqdn_addrs, &k);
    if (!a) return reason;
    now = bpf_ktime_get_ns();
    for (int i = 0; i < PAL_FQDN_SLOTS; i++) {
        struct pal_peer_key pk = {.epid = s->epid};
        struct pal_ports* ports;
        __u64 selector = a->slot[i].selector;

        if (!selector) continue;
        d->fqdn = selector;
        if (a->slot[i].expires_ns < now) continue;
        pk.peer_cgroup = PAL_FQDN_SELECTOR | selector;
        ports = bpf_map_lookup_elem(&pal_peers, &pk);
        if (ports && pal_ports_allow(ports, pal_proto_bit(d->protocol), d->port))
            return PAL_REASON_NONE;
    }
    return d->fqdn ? PAL_REASON_FQDN_NOT_ALLOWED : reason;
}

static __always_inline struct pal_decision pal_verdict_for(const struct pal_subject* s,
                                                           __u8 reason) {
    struct pal_decision dec = {.verdict = PAL_VERDICT_ALLOW, .reason = reason};

    if (reason != PAL_REASON_NONE)
        dec.verdict = s->policy.mode == PAL_MODE_ENFORCE ? PAL_VERDICT_DENY : PAL_VERDICT_AUDIT;
    return dec;
}

/* `d` is not const: the destination's container is noted for the event. */
/* What the rules say of `d`, before the loopback exemption and learned addresses: the
 * inter-container rules for another container's address (noted in `d`), else the allowlist. */
static __always_inline __u8 pal_rules_reason(const struct pal_subject* s, struct pal_dest* d) {
    if (s->policy.flags & PAL_POLICY_ISOLATED) d->peer_cgroup = pal_addr_owner(d);
    /* Its own address, or its pod's, is judged by the allowlist. */
    if (d->peer_cgroup && d->peer_cgroup != s->cgroup_id &&
        d->peer_cgroup != pal_endpoint_of(s->cgroup_id))
        return pal_peer_reason(s->epid, d->peer_cgroup, d->protocol, d->port);
    if (s->policy.flags & PAL_POLICY_UNMATCHED) return PAL_REASON_UNMATCHED;
    return pal_allowlist_reason(s, d);
}

static __always_inline struct pal_decision pal_decide_egress(const struct pal_subject* s,
                                                             struct pal_dest* d) {
    __u8 reason;

    if (s->policy.mode == PAL_MODE_ALLOW || pal_dest_is_local(d))
        return pal_verdict_for(s, PAL_REASON_NONE);
    reason = pal_rules_reason(s, d);
    /* Learned addresses add to the allowlist; they never make another container a peer. */
    if ((reason == PAL_REASON_NOT_ALLOWLISTED || reason == PAL_REASON_IPV6_NOT_ALLOWED ||
         reason == PAL_REASON_EXCEPT) &&
        (s->policy.flags & PAL_POLICY_FQDN))
        reason = pal_fqdn_reason(s, d, reason);
    return pal_verdict_for(s, reason);
}

/* Whether `d` (UDP 53) is a resolver the policy set of `s` names: a toContainers rule for
 * another container's address, else its allowlist. Not the loopback exemption and not an
 * address learned from DNS, which would let a container vouch for its own answers
 * (docs/reference/enforcement.md#fqdn). */
static __always_inline bool pal_resolver_allowed(const struct pal_subject* s, struct pal_dest* d) {
    return pal_rules_reason(s, d) == PAL_REASON_NONE;
}

/* A bind to the local address and port `d` (docs/reference/enforcement.md#bind): judged only
 * when a policy of the set has `bind`, by the set's bind entries, in any network namespace. */
static __always_inline struct pal_decision pal_decide_bind(const struct pal_subject* s,
                                                           const struct pal_dest* d) {
    struct pal_lpm_value* v;

    if (!(s->policy.flags & PAL_POLICY_BIND) || s->policy.mode == PAL_MODE_ALLOW)
        return pal_verdict_for(s, PAL_REASON_NONE);
    v = pal_prefix_of(s->epid | PAL_BIND_EPID, s->policy.flags & PAL_POLICY_BIND_HOSTS, d);
    if (v && pal_ports_allow(&v->ports, pal_proto_bit(d->protocol), d->port))
        return pal_verdict_for(s, PAL_REASON_NONE);
    return pal_verdict_for(s, PAL_REASON_BIND_NOT_ALLOWED);
}

/* Creating an SCTP or L2TP/IP socket, whose bind() the kernel hands to its protocol before
 * the cgroup bind hooks run: a container with bind rules may not, since nothing would judge
 * its binds (docs/reference/enforcement.md#bind). */
static __always_inline struct pal_decision pal_decide_unjudged_bind(const struct pal_subject* s) {
    if (!(s->policy.flags & PAL_POLICY_BIND) || s->policy.mode == PAL_MODE_ALLOW)
        return pal_verdict_for(s, PAL_REASON_NONE);
    return pal_verdict_for(s, PAL_REASON_BIND_NOT_ALLOWED);
}

/* A packet that names its own route (pal_skb_source_routed): its first hop is all that
 * any allowlist could judge, so it is refused whatever the rules
 * (docs/reference/enforcement.md#source-routes). */
static __always_inline struct pal_decision pal_decide_source_route(const struct pal_subject* s) {
    if (s->policy.mode == PAL_MODE_ALLOW) return pal_verdict_for(s, PAL_REASON_NONE);
    return pal_verdict_for(s, PAL_REASON_SOURCE_ROUTE);
}

/* AF_PACKET, AF_XDP and SOCK_RAW creation (docs/reference/enforcement.md#raw-and-packet-sockets).
 */
static __always_inline struct pal_decision pal_decide_socket(const struct pal_subject* s,
                                                             __u32 family, __u32 type) {
    bool raw = family == PAL_AF_PACKET || family == PAL_AF_XDP || type == PAL_SOCK_RAW;

    if (!raw || s->policy.mode == PAL_MODE_ALLOW || (s->policy.flags & PAL_POLICY_RAW_ALLOW))
        return pal_verdict_for(s, PAL_REASON_NONE);
    return pal_verdict_for(s, PAL_REASON_RAW_SOCKET);
}
