// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-container egress enforcement at the cgroup socket hooks (docs/reference/enforcement.md).
 *
 * Attached once at cgroupRoot with BPF_F_ALLOW_MULTI semantics (bpf_link), the
 * programs run for every task below it and act only on tasks whose cgroup (or
 * an ancestor) is a known container. Tasks outside containers are never
 * touched: fail open for the host, fail closed for a container whose policy
 * denies.
 */
#include "dns.bpf.h"
#include "events.bpf.h"
#include "packet.bpf.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* Whether the socket is in the host's network namespace (pal_config.host_netns_cookie). */
static __always_inline bool pal_in_host_netns(struct bpf_sock_addr* ctx,
                                              const struct pal_config* cfg) {
    __u64 host;

    if (!cfg || !cfg->host_netns_cookie) return false;
    host = cfg->host_netns_cookie == PAL_HOST_NETNS_INIT ? bpf_get_netns_cookie(NULL)
                                                         : cfg->host_netns_cookie;
    return bpf_get_netns_cookie(ctx) == host;
}

/* 1 lets the call proceed; 0 makes it fail with EPERM. */
static __always_inline int pal_judge_sock_addr(struct bpf_sock_addr* ctx, struct pal_dest* d,
                                               __u8 hook) {
    struct pal_config* cfg = pal_cfg();
    struct pal_subject s;
    struct pal_decision dec;

    if (!pal_current_subject(&s)) return 1;
    d->protocol = ctx->protocol;
    d->port = bpf_ntohs((__u16)ctx->user_port);
    d->host_netns = pal_in_host_netns(ctx, cfg);
    dec = pal_decide_egress(&s, d);
    pal_report_net(&s, d, hook, dec, ctx->type);
    return dec.verdict == PAL_VERDICT_DENY ? 0 : 1;
}

static __always_inline int pal_sock_addr4(struct bpf_sock_addr* ctx, __u8 hook) {
    struct pal_dest d = {};

    pal_dest_set_v4(&d, ctx->user_ip4);
    return pal_judge_sock_addr(ctx, &d, hook);
}

/* The context allows only 4-byte loads of user_ip6. */
static __always_inline void pal_user_ip6(struct bpf_sock_addr* ctx, __u32 w[4]) {
    w[0] = ctx->user_ip6[0];
    w[1] = ctx->user_ip6[1];
    w[2] = ctx->user_ip6[2];
    w[3] = ctx->user_ip6[3];
}

static __always_inline int pal_sock_addr6(struct bpf_sock_addr* ctx, __u8 hook) {
    struct pal_dest d = {};
    __u32 w[4];

    pal_user_ip6(ctx, w);
    pal_dest_set_v6(&d, w, pal_cfg());
    return pal_judge_sock_addr(ctx, &d, hook);
}

SEC("cgroup/connect4")
int pal_connect4(struct bpf_sock_addr* ctx) { return pal_sock_addr4(ctx, PAL_HOOK_CONNECT4); }

SEC("cgroup/connect6")
int pal_connect6(struct bpf_sock_addr* ctx) { return pal_sock_addr6(ctx, PAL_HOOK_CONNECT6); }

SEC("cgroup/sendmsg4")
int pal_sendmsg4(struct bpf_sock_addr* ctx) { return pal_sock_addr4(ctx, PAL_HOOK_SENDMSG4); }

SEC("cgroup/sendmsg6")
int pal_sendmsg6(struct bpf_sock_addr* ctx) { return pal_sock_addr6(ctx, PAL_HOOK_SENDMSG6); }

/* bind(): the local address and port a socket may take (docs/reference/enforcement.md#bind).
 * A socket bound by connect() or listen() without bind() passes no bind hook. */
static __always_inline int pal_judge_bind(struct bpf_sock_addr* ctx, struct pal_dest* d,
                                          __u8 hook) {
    struct pal_subject s;
    struct pal_decision dec;

    if (!pal_current_subject(&s)) return 1;
    d->protocol = ctx->protocol;
    d->port = bpf_ntohs((__u16)ctx->user_port);
    dec = pal_decide_bind(&s, d);
    pal_report_net(&s, d, hook, dec, ctx->type);
    return dec.verdict == PAL_VERDICT_DENY ? 0 : 1;
}

SEC("cgroup/bind4")
int pal_bind4(struct bpf_sock_addr* ctx) {
    struct pal_dest d = {};

    pal_dest_set_v4(&d, ctx->user_ip4);
    return pal_judge_bind(ctx, &d, PAL_HOOK_BIND4);
}

SEC("cgroup/bind6")
int pal_bind6(struct bpf_sock_addr* ctx) {
    struct pal_dest d = {};
    __u32 w[4];

    pal_user_ip6(ctx, w);
    /* A v4-mapped address is the IPv4 one; a NAT64 prefix means nothing locally. */
    pal_dest_set_v6(&d, w, NULL);
    return pal_judge_bind(ctx, &d, PAL_HOOK_BIND6);
}

SEC("cgroup/sock_create")
int pal_sock_create(struct bpf_sock* ctx) {
    struct pal_subject s;
    struct pal_decision dec;

    /* A raw socket is judged as one whatever its protocol. */
    if (ctx->type == PAL_SOCK_RAW || ctx->family == PAL_AF_PACKET) {
        if (!pal_current_subject(&s)) return 1;
        dec = pal_decide_socket(&s, ctx->family, ctx->type);
    } else if (ctx->protocol == PAL_IPPROTO_SCTP || ctx->protocol == PAL_IPPROTO_L2TP) {
        if (!pal_current_subject(&s)) return 1;
        dec = pal_decide_unjudged_bind(&s);
    } else {
        return 1;
    }
    pal_report_socket(&s, PAL_HOOK_SOCK_CREATE, dec, ctx->family, ctx->type, ctx->protocol);
    return dec.verdict == PAL_VERDICT_DENY ? 0 : 1;
}

/* Packet sockets (AF_PACKET) and AF_XDP sockets pass no cgroup hook (cgroup/sock_create
 * runs for AF_INET and AF_INET6 only), and their traffic passes no IP hook. */
static __always_inline bool pal_link_layer_family(__u32 family) {
    return family == PAL_AF_PACKET || family == PAL_AF_XDP;
}

/* With BPF LSM: security_socket_create() runs in __sock_create() for every way a
 * socket is made (socket(), socketpair(), 32-bit calls, io_uring's IORING_OP_SOCKET),
 * after the kernel has turned (AF_INET, SOCK_PACKET) into AF_PACKET, and before the
 * socket exists: a refusal is EPERM and there is nothing to hand over. Sockets the
 * kernel makes for itself (kern) are not a container's. */
SEC("lsm/socket_create")
int BPF_PROG(pal_socket_lsm, int family, int type, int protocol, int kern, int ret) {
    struct pal_subject s;
    struct pal_decision dec;

    if (ret || kern || !pal_link_layer_family(family)) return ret;
    if (!pal_traced_subject(&s)) return 0;
    dec = pal_decide_socket(&s, family, type);
    pal_report_socket(&s, PAL_HOOK_LSM_SOCKET, dec, family, type, protocol);
    return dec.verdict == PAL_VERDICT_DENY ? -PAL_EPERM : 0;
}

/* Without BPF LSM the one way to stop them is to kill the task at the entry of
 * socket() (bpf/syscalls.bpf.c): the signal is delivered as the call returns, so the
 * socket is created but the task never runs another instruction with it (the same
 * fallback as for execs, docs/reference/enforcement.md#exec-policy). io_uring makes
 * sockets without a system call: only the LSM program sees those. */
static __always_inline void pal_socket_enter(__u32 family, __u32 type, __u32 protocol) {
    struct pal_subject s;
    struct pal_decision dec;

    type &= 0xf; /* SOCK_TYPE_MASK: the rest are SOCK_NONBLOCK and SOCK_CLOEXEC */
    /* __sock_create() turns the obsolete (AF_INET, SOCK_PACKET) into an
     * AF_PACKET socket after this point. */
    if (family == PAL_AF_INET && type == PAL_SOCK_PACKET) family = PAL_AF_PACKET;
    if (!pal_link_layer_family(family)) return;
    if (!pal_traced_subject(&s)) return;
    dec = pal_decide_socket(&s, family, type);
    pal_report_socket(&s, PAL_HOOK_TP_SOCKET, dec, family, type, protocol);
    if (dec.verdict == PAL_VERDICT_DENY) bpf_send_signal(PAL_SIGKILL);
}

#define PAL_TCP_CA_LOSS 4 /* TCP_CA_Loss: the retransmission timer fired */

/* TCP sockets whose first packet pal_skb_egress refused: their retransmissions are refused
 * too (the value says nothing more). */
struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, __u32);
} pal_syn_refused SEC(".maps");

/* Whether the task sending the packet is in the socket's own cgroup: then the socket hook it
 * called judged the packet's destination. Only where pal_skb_has_current. */
static __always_inline bool pal_sent_from_socket_cgroup(struct __sk_buff* skb) {
    return bpf_get_current_cgroup_id() == bpf_skb_cgroup_id(skb);
}

/* TCP and UDP sockets were judged at connect/sendmsg, by the calling task's cgroup. Where
 * cgroup_skb programs can ask for the task (pal_skb_has_current), a TCP connection's first
 * packet (its socket in SYN_SENT: the SYN or a Fast Open SYN) and a UDP datagram are judged
 * again by the socket's own cgroup when another task sent them, so a socket used for the
 * container by someone else (handed over with SCM_RIGHTS, a kernel thread on its behalf) is
 * held to the container's policy (docs/reference/enforcement.md#the-socket-not-the-task);
 * `*first` then points at a TCP socket. A retransmission from the timer goes as the first
 * SYN went. TCP request and timewait sockets (replies to inbound connections) are not full
 * sockets. */
static __always_inline bool pal_socket_hooks_judged(struct __sk_buff* skb, __u8* sock_type,
                                                    struct bpf_sock** first) {
    struct bpf_sock* sk = skb->sk;
    struct tcp_sock* tp;

    if (!sk) return true; /* not sent by a local socket */
    sk = bpf_sk_fullsock(sk);
    if (!sk) return true;
    *sock_type = sk->type;
    if (sk->type == PAL_SOCK_STREAM && sk->protocol == IPPROTO_TCP) {
        if (sk->state != BPF_TCP_SYN_SENT || !pal_skb_has_current) return true;
        if (pal_sent_from_socket_cgroup(skb)) return true; /* judged by connect() */
        tp = bpf_skc_to_tcp_sock(sk);
        if (tp && BPF_CORE_READ_BITFIELD(&tp->inet_conn, icsk_ca_state) == PAL_TCP_CA_LOSS)
            return !bpf_sk_storage_get(&pal_syn_refused, sk, NULL, 0);
        *first = sk;
        return false;
    }
    if (sk->type != PAL_SOCK_DGRAM || sk->protocol != IPPROTO_UDP) return false;
    return !pal_skb_has_current || pal_sent_from_socket_cgroup(skb); /* judged by sendmsg() */
}

/* The packet-level check for what passes no socket hook: raw sockets, ICMP
 * (ping) sockets and any other IP protocol, a TCP connection's first packet when another
 * task connected its socket, and source-routed packets of any socket
 * (docs/reference/enforcement.md#coverage). Returns 0 to drop. */
SEC("cgroup_skb/egress")
int pal_skb_egress(struct __sk_buff* skb) {
    struct bpf_sock* first = NULL;
    struct pal_subject s;
    struct pal_dest d = {};
    struct pal_decision dec;
    __u8 sock_type = 0;

    if (pal_skb_source_routed(skb)) {
        if (!pal_skb_subject(skb, &s) || !pal_skb_dest(skb, &d)) return 1;
        pal_socket_hooks_judged(skb, &sock_type, &first);
        dec = pal_decide_source_route(&s);
        pal_report_net(&s, &d, PAL_HOOK_SKB_EGRESS, dec, sock_type);
        return dec.verdict == PAL_VERDICT_DENY ? 0 : 1;
    }
    pal_dns_egress(skb);
    if (pal_socket_hooks_judged(skb, &sock_type, &first)) return 1;
    if (!pal_skb_subject(skb, &s)) return 1;
    if (!pal_skb_dest(skb, &d)) return 1;
    dec = pal_decide_egress(&s, &d);
    pal_report_net(&s, &d, PAL_HOOK_SKB_EGRESS, dec, sock_type);
    if (dec.verdict != PAL_VERDICT_DENY) return 1;
    if (first) bpf_sk_storage_get(&pal_syn_refused, first, NULL, BPF_SK_STORAGE_GET_F_CREATE);
    return 0;
}

/* Whether a received packet may open a flow: a TCP segment for a listening
 * socket, or a datagram for an unconnected UDP socket. Anything else answers
 * a flow the container opened itself, which its egress hooks judged. */
static __always_inline bool pal_opens_flow(struct __sk_buff* skb) {
    struct bpf_sock* sk = skb->sk;

    if (!sk) return false;
    sk = bpf_sk_fullsock(sk);
    if (!sk) return false;
    if (sk->protocol == IPPROTO_TCP) return sk->state == BPF_TCP_LISTEN;
    return sk->protocol == IPPROTO_UDP && sk->dst_port == 0;
}

/* docs/reference/enforcement.md#inter-container, the receiver's side: with interContainer: deny, a
 * container accepts new flows from another container only when a toContainers rule of the sender's
 * policy names it, so an unmanaged or compromised sender (whose own egress hooks may not be in
 * force) gets nowhere. Returns 0 to drop. */
static __always_inline int pal_ingress_verdict(struct __sk_buff* skb) {
    struct pal_subject receiver;
    struct pal_dest sender = {};
    struct pal_cgroup* c;
    struct pal_config* cfg;
    struct pal_decision dec;
    __u8 reason = PAL_REASON_INTER_CONTAINER;
    __u64 endpoint;

    /* First what the socket says, no map needed: most packets answer a flow
     * (every ACK of a bulk transfer passes here). */
    if (!pal_opens_flow(skb)) return 1;
    if (!pal_skb_subject(skb, &receiver)) return 1;
    if (!(receiver.policy.flags & PAL_POLICY_ISOLATED) || receiver.policy.mode == PAL_MODE_ALLOW)
        return 1;
    if (!pal_skb_sender(skb, &sender)) return 1;
    sender.peer_cgroup = pal_addr_owner(&sender);
    if (!sender.peer_cgroup) return 1;
    /* Rules name a pod by its endpoint, as the sender's side does; its own pod's address
     * is the receiver's own, when the packet was sent inside the namespace (over lo). One
     * that came from outside with that source is forged (IPv6 delivers it, IPv4 drops it
     * as a martian): no rule allows it. */
    endpoint = pal_endpoint_of(receiver.cgroup_id);
    if (sender.peer_cgroup == endpoint && skb->ingress_ifindex == PAL_LOOPBACK_IFINDEX) return 1;
    c = bpf_map_lookup_elem(&pal_cgroups, &sender.peer_cgroup);
    cfg = pal_cfg();
    if (c && cfg) {
        reason =
            pal_peer_reason(c->epid[cfg->active_gen & 1], endpoint, sender.protocol, sender.port);
    }
    dec = pal_verdict_for(&receiver, reason);
    pal_report_net(&receiver, &sender, PAL_HOOK_SKB_INGRESS, dec, 0);
    return dec.verdict == PAL_VERDICT_DENY ? 0 : 1;
}

/* The receiver's check, then, for a packet that goes on to its socket, what a DNS answer in it
 * teaches (docs/reference/enforcement.md#fqdn): before the application can read it. */
SEC("cgroup_skb/ingress")
int pal_skb_ingress(struct __sk_buff* skb) {
    int pass = pal_ingress_verdict(skb);

    if (pass) pal_dns_ingress(skb);
    return pass;
}
