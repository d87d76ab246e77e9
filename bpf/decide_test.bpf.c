// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test wrappers: run the egress decision (bpf/decide.bpf.h) on a crafted IPv4 or
 * IPv6 packet through BPF_PROG_TEST_RUN, so the decision table can be checked
 * without sockets, and the DNS query and answer handling (bpf/dns.bpf.h) for the
 * benchmarks. The caller puts the cgroup id of the container to judge for
 * in cb[0] (low half) and cb[1]; the verdict, reason and the destination as
 * judged land in pal_test_out.
 */
#include "decide.bpf.h"
#include "dns.bpf.h"
#include "packet.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct pal_test_result {
    __u8 verdict;
    __u8 reason;
    __u8 family;
    __u8 orig_family;
    __u16 port;
    __u8 pad[2];
    __u8 addr[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pal_test_result);
} pal_test_out SEC(".maps");

/* The container whose cgroup id the caller put in cb[0] and cb[1]. */
static __always_inline bool pal_test_subject(struct __sk_buff* skb, struct pal_subject* s) {
    __u64 cgid = skb->cb[0] | (__u64)skb->cb[1] << 32;
    struct pal_cgroup* c = bpf_map_lookup_elem(&pal_cgroups, &cgid);

    return c && pal_subject_fill(s, cgid, c);
}

SEC("cgroup_skb/egress")
int pal_test_decide(struct __sk_buff* skb) {
    __u32 zero = 0;
    struct pal_test_result* out = bpf_map_lookup_elem(&pal_test_out, &zero);
    struct pal_subject s;
    struct pal_dest d = {};
    struct pal_decision dec;

    if (!out || !pal_test_subject(skb, &s) || !pal_skb_dest(skb, &d)) return 1;
    dec = pal_decide_egress(&s, &d);
    out->verdict = dec.verdict;
    out->reason = dec.reason;
    out->family = d.family;
    out->orig_family = d.orig_family;
    out->port = d.port;
    __builtin_memcpy(out->addr, d.addr, 16);
    return 1;
}

SEC("cgroup_skb/egress")
int pal_test_dns_query(struct __sk_buff* skb) {
    struct pal_dns_scratch* sc = pal_dns_packet_in(skb, true);

    if (sc && pal_test_subject(skb, &sc->subject)) pal_dns_queries_of(skb, sc);
    return 1;
}

SEC("cgroup_skb/ingress")
int pal_test_dns_answer(struct __sk_buff* skb) {
    struct pal_dns_scratch* sc = pal_dns_packet_in(skb, false);

    if (sc && pal_test_subject(skb, &sc->subject)) pal_dns_answers_of(skb, sc);
    return 1;
}
