/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Which container (and which effective policy) a task or packet belongs to. */
#pragma once

#include "maps.bpf.h"

struct pal_subject {
    __u64 cgroup_id; /* the container's own cgroup, even for a nested process */
    __u32 container;
    __u32 epid;
    struct pal_policy policy;
};

/* Fills `s` from a container entry for the generation in force. */
static __always_inline bool pal_subject_fill(struct pal_subject* s, __u64 cgid,
                                             const struct pal_cgroup* c) {
    struct pal_config* cfg = pal_cfg();
    __u32 slot;

    if (!cfg) return false;
    slot = cfg->active_gen & 1;
    s->cgroup_id = cgid;
    s->container = c->container;
    s->epid = c->epid[slot];
    s->policy = c->policy[slot];
    return true;
}

/* The current task's container: its own cgroup first (the common case, one
 * lookup), then its ancestors from the root down, so that a process in a cgroup
 * nested below a container's gets the container's policy. */
static __always_inline bool pal_current_subject(struct pal_subject* s) {
    __u64 id = bpf_get_current_cgroup_id();
    struct pal_cgroup* c = bpf_map_lookup_elem(&pal_cgroups, &id);

    if (c) return pal_subject_fill(s, id, c);
    for (int level = 1; level < PAL_CGROUP_MAX_DEPTH; level++) {
        __u64 anc = bpf_get_current_ancestor_cgroup_id(level);

        /* 0: deeper than the task's cgroup; id: reached the task's own cgroup. */
        if (!anc || anc == id) return false;
        c = bpf_map_lookup_elem(&pal_cgroups, &anc);
        if (c) return pal_subject_fill(s, anc, c);
    }
    return false;
}

/* The same for the socket that sent a packet (cgroup_skb). */
static __always_inline bool pal_skb_subject(struct __sk_buff* skb, struct pal_subject* s) {
    __u64 id = bpf_skb_cgroup_id(skb);
    struct pal_cgroup* c = bpf_map_lookup_elem(&pal_cgroups, &id);

    if (c) return pal_subject_fill(s, id, c);
    for (int level = 1; level < PAL_CGROUP_MAX_DEPTH; level++) {
        __u64 anc = bpf_skb_ancestor_cgroup_id(skb, level);

        if (!anc || anc == id) return false;
        c = bpf_map_lookup_elem(&pal_cgroups, &anc);
        if (c) return pal_subject_fill(s, anc, c);
    }
    return false;
}
