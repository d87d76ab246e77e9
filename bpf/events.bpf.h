/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdict counting and event records to the ring buffer. */
#pragma once

#include "decide.bpf.h"

/* Wake the agent only once this much is waiting: the agent also drains the ring
 * on a short timer, so a lone event still arrives promptly, while a burst costs
 * one wakeup instead of one per event (a wakeup per event measured 1.30x on
 * connect, batched 1.02x: docs/reference/targets.md). */
#define PAL_WAKEUP_BYTES (16 * 1024)

/* Whether container `s` may report one more event now; if not, the event is
 * counted as suppressed. Only reporting is limited: verdicts are decided and
 * counted before this, so enforcement never depends on it.
 *
 * GCRA: the bucket is the time tat_ns at which it is full again; an event
 * moves it on by one interval, and is allowed while that stays within the
 * burst of now. Integer nanoseconds, no division in the kernel.
 * Two CPUs reporting for the same container at the same instant may both read
 * the same tat_ns and let one event more through than the bucket holds (no
 * lock on this path: a flood then runs at most one event per CPU over its
 * budget, never unbounded); the suppressed count is exact (atomic add). */
static __always_inline bool pal_event_budget(const struct pal_subject* s, bool security) {
    struct pal_config* cfg = pal_cfg();
    struct pal_ratelimit* b;
    __u64 now, tat, key = s->cgroup_id | (security ? PAL_RATELIMIT_SECURITY : 0);

    if (!cfg || !cfg->event_interval_ns) return true;
    now = bpf_ktime_get_ns();
    b = bpf_map_lookup_elem(&pal_ratelimit, &key);
    if (!b) {
        struct pal_ratelimit fresh = {.tat_ns = now + cfg->event_interval_ns};

        bpf_map_update_elem(&pal_ratelimit, &key, &fresh, BPF_NOEXIST);
        return true;
    }
    tat = b->tat_ns > now ? b->tat_ns : now;
    if (tat + cfg->event_interval_ns - now > cfg->event_burst_ns) {
        __sync_fetch_and_add(&b->suppressed, 1);
        return false;
    }
    b->tat_ns = tat + cfg->event_interval_ns;
    return true;
}

/* Submits a record of `size` bytes, waking the agent once per PAL_WAKEUP_BYTES
 * of backlog: when this record (already counted in the ring's data, since it
 * is reserved) takes the backlog across a multiple of the threshold, not on
 * every record past it, which would cost a wakeup per event exactly when the
 * agent lags (docs/benchmarks.profile.md). */
static __always_inline void pal_submit(void* rec, __u64 size) {
    const __u64 waiting = bpf_ringbuf_query(&pal_events, BPF_RB_AVAIL_DATA);
    const __u64 record = size + BPF_RINGBUF_HDR_SZ;
    const __u64 before = waiting > record ? waiting - record : 0;

    bpf_ringbuf_submit(rec, waiting / PAL_WAKEUP_BYTES != before / PAL_WAKEUP_BYTES
                                ? BPF_RB_FORCE_WAKEUP
                                : BPF_RB_NO_WAKEUP);
}

/* Network events may fill the ring to here; the last quarter is kept for
 * security events, so that many containers' denied connects, each within its
 * budget, cannot crowd out an exec or a raw socket when the agent lags. */
#define PAL_RINGBUF_NET_LIMIT (PAL_RINGBUF_BYTES / 4 * 3)

/* Whether a network event may take ring space now: when not, it counts as a
 * ring buffer drop. */
static __always_inline bool pal_ring_room(bool security) {
    if (security || bpf_ringbuf_query(&pal_events, BPF_RB_AVAIL_DATA) < PAL_RINGBUF_NET_LIMIT)
        return true;
    pal_count(PAL_COUNTER_RINGBUF_DROPS);
    return false;
}

/* A ring buffer record for an event of container `s` (a security event: exec,
 * raw or packet socket; or a network one), or NULL when its event budget is
 * spent (counted in pal_ratelimit) or the ring has no room for it (counted in
 * pal_counters). A macro, so that the size stays a constant for the verifier. */
#define pal_reserve(s, size, security)                                  \
    ({                                                                  \
        void* rec_ = NULL;                                              \
        if (pal_event_budget(s, security) && pal_ring_room(security)) { \
            rec_ = bpf_ringbuf_reserve(&pal_events, (size), 0);         \
            if (!rec_) pal_count(PAL_COUNTER_RINGBUF_DROPS);            \
        }                                                               \
        rec_;                                                           \
    })

/* Whether cgroup_skb programs may call the bpf_get_current_* helpers (the task's
 * pid, uid, comm and cgroup id): newer kernels allow it, 6.1 refuses to load a
 * program that does. Set by the agent from a probe before load; the verifier
 * skips the branch it rules out. */
const volatile bool pal_skb_has_current = false;

static __always_inline void pal_header_fill(struct pal_event_header* h, __u32 type,
                                            const struct pal_subject* s, __u8 hook,
                                            struct pal_decision dec) {
    h->ts_ns = bpf_ktime_get_boot_ns();
    h->cgroup_id = s->cgroup_id;
    h->type = type;
    h->container = s->container;
    /* A packet's arrival runs in whatever task the softirq interrupted: no
     * process of the receiver's, so none is reported (nor asked for: Linux 6.1
     * refuses those helpers in cgroup_skb programs). */
    if (hook == PAL_HOOK_SKB_INGRESS || (hook == PAL_HOOK_SKB_EGRESS && !pal_skb_has_current)) {
        h->pid = h->uid = h->gid = 0;
        __builtin_memset(h->comm, 0, sizeof(h->comm));
    } else {
        __u64 ids = bpf_get_current_uid_gid();

        h->pid = bpf_get_current_pid_tgid() >> 32;
        h->uid = (__u32)ids;
        h->gid = ids >> 32;
        bpf_get_current_comm(h->comm, sizeof(h->comm));
    }
    h->epid = s->epid;
    h->hook = hook;
    h->verdict = dec.verdict;
    h->reason = dec.reason;
}

/* Counts every verdict; reports the ones that are not a plain allow, within
 * the container's event budget. */
static __always_inline void pal_report_net(const struct pal_subject* s, const struct pal_dest* d,
                                           __u8 hook, struct pal_decision dec, __u8 sock_type) {
    struct pal_net_event* e;

    pal_count(PAL_COUNTER_VERDICT(hook, dec.verdict, dec.reason));
    if (dec.verdict == PAL_VERDICT_ALLOW) return;
    e = pal_reserve(s, sizeof(*e), false);
    if (!e) return;
    pal_header_fill(&e->h, PAL_EVENT_NET, s, hook, dec);
    __builtin_memcpy(e->daddr, d->addr, 16);
    __builtin_memcpy(e->orig_daddr, d->orig, 16);
    e->dport = d->port;
    e->family = d->family;
    e->orig_family = d->orig_family;
    e->protocol = d->protocol;
    e->sock_type = sock_type;
    e->peer_cgroup = d->peer_cgroup;
    e->fqdn = d->fqdn;
    __builtin_memset(e->pad, 0, sizeof(e->pad));
    __builtin_memset(e->h.pad, 0, sizeof(e->h.pad));
    pal_submit(e, sizeof(*e));
}

static __always_inline void pal_report_socket(const struct pal_subject* s, __u8 hook,
                                              struct pal_decision dec, __u32 family, __u32 type,
                                              __u32 protocol) {
    struct pal_net_event* e;

    pal_count(PAL_COUNTER_VERDICT(hook, dec.verdict, dec.reason));
    if (dec.verdict == PAL_VERDICT_ALLOW) return;
    e = pal_reserve(s, sizeof(*e), true);
    if (!e) return;
    __builtin_memset(e, 0, sizeof(*e));
    pal_header_fill(&e->h, PAL_EVENT_SOCKET, s, hook, dec);
    e->family = family;
    e->sock_type = type;
    e->protocol = protocol;
    pal_submit(e, sizeof(*e));
}
