/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdict counting and event records to the ring buffer. */
#pragma once

#include "decide.bpf.h"

/* Wake the agent only once this much is waiting: the agent also drains the ring
 * on a short timer, so a lone event still arrives promptly, while a burst costs
 * one wakeup instead of one per event (a wakeup per event measured 1.30x on
 * connect, batched 1.02x: SPEC §8). */
#define PAL_WAKEUP_BYTES (16 * 1024)

static __always_inline void pal_submit(void* rec) {
    __u64 waiting = bpf_ringbuf_query(&pal_events, BPF_RB_AVAIL_DATA);

    bpf_ringbuf_submit(rec, waiting >= PAL_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void pal_header_fill(struct pal_event_header* h, __u32 type,
                                            const struct pal_subject* s, __u8 hook,
                                            struct pal_decision dec) {
    __u64 ids = bpf_get_current_uid_gid();

    h->ts_ns = bpf_ktime_get_boot_ns();
    h->cgroup_id = s->cgroup_id;
    h->type = type;
    h->container = s->container;
    h->pid = bpf_get_current_pid_tgid() >> 32;
    h->uid = (__u32)ids;
    h->gid = ids >> 32;
    h->epid = s->epid;
    bpf_get_current_comm(h->comm, sizeof(h->comm));
    h->hook = hook;
    h->verdict = dec.verdict;
    h->reason = dec.reason;
}

/* Counts every verdict; reports the ones that are not a plain allow. */
static __always_inline void pal_report_net(const struct pal_subject* s, const struct pal_dest* d,
                                           __u8 hook, struct pal_decision dec, __u8 sock_type) {
    struct pal_net_event* e;

    pal_count(PAL_COUNTER_VERDICT(hook, dec.verdict));
    if (dec.verdict == PAL_VERDICT_ALLOW) return;
    e = bpf_ringbuf_reserve(&pal_events, sizeof(*e), 0);
    if (!e) {
        pal_count(PAL_COUNTER_RINGBUF_DROPS);
        return;
    }
    pal_header_fill(&e->h, PAL_EVENT_NET, s, hook, dec);
    __builtin_memcpy(e->daddr, d->addr, 16);
    __builtin_memcpy(e->orig_daddr, d->orig, 16);
    e->dport = d->port;
    e->family = d->family;
    e->orig_family = d->orig_family;
    e->protocol = d->protocol;
    e->sock_type = sock_type;
    __builtin_memset(e->pad, 0, sizeof(e->pad));
    __builtin_memset(e->h.pad, 0, sizeof(e->h.pad));
    pal_submit(e);
}

static __always_inline void pal_report_socket(const struct pal_subject* s, __u8 hook,
                                              struct pal_decision dec, __u32 family, __u32 type,
                                              __u32 protocol) {
    struct pal_net_event* e;

    pal_count(PAL_COUNTER_VERDICT(hook, dec.verdict));
    if (dec.verdict == PAL_VERDICT_ALLOW) return;
    e = bpf_ringbuf_reserve(&pal_events, sizeof(*e), 0);
    if (!e) {
        pal_count(PAL_COUNTER_RINGBUF_DROPS);
        return;
    }
    __builtin_memset(e, 0, sizeof(*e));
    pal_header_fill(&e->h, PAL_EVENT_SOCKET, s, hook, dec);
    e->family = family;
    e->sock_type = type;
    e->protocol = protocol;
    pal_submit(e);
}
