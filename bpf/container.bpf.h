/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Which container (and which effective policy) a task or packet belongs to. */
#pragma once

#include "maps.bpf.h"
#include <bpf/bpf_core_read.h>

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

/* Whether tracing and LSM programs may call bpf_get_current_ancestor_cgroup_id:
 * Linux 5.10 offers it to cgroup programs only. Set by the agent from a probe
 * before load (agent/datapath/bpf_datapath.cpp); the verifier drops the branch
 * it rules out, so the helper is never seen where the kernel refuses it. */
const volatile bool pal_tracing_has_ancestor = true;

/* struct cgroup before Linux 6.0 kept its ancestors' ids, not the ancestors. */
struct cgroup___ancestor_ids {
    int level;
    __u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/* What bpf_get_current_ancestor_cgroup_id(level) returns, read with CO-RE from
 * the task's cgroup v2 (task->cgroups->dfl_cgrp): the id of its ancestor at
 * `level` (0: the root), or 0 below the task's own cgroup. For tracing
 * programs only (bpf_get_current_task). */
static __always_inline __u64 pal_task_ancestor_cgroup_id(int level) {
    struct task_struct* task = (struct task_struct*)bpf_get_current_task();
    struct cgroup* cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
    struct cgroup___ancestor_ids* old = (void*)cg;
    struct cgroup* anc = NULL;
    __u64 id = 0;

    if (!cg || level > BPF_CORE_READ(cg, level)) return 0;
    if (bpf_core_field_exists(old->ancestor_ids)) {
        bpf_core_read(&id, sizeof(id), &old->ancestor_ids[level]);
        return id;
    }
    bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]);
    return anc ? BPF_CORE_READ(anc, kn, id) : 0;
}

/* `tracing`, a constant at each call: the caller is a tracing or LSM program. */
static __always_inline __u64 pal_current_ancestor_cgroup_id(int level, bool tracing) {
    if (tracing && !pal_tracing_has_ancestor) return pal_task_ancestor_cgroup_id(level);
    return bpf_get_current_ancestor_cgroup_id(level);
}

/* The current task's container: its own cgroup first (the common case, one
 * lookup), then its ancestors from the root down, so that a process in a cgroup
 * nested below a container's gets the container's policy. */
static __always_inline bool pal_task_subject(struct pal_subject* s, bool tracing) {
    __u64 id = bpf_get_current_cgroup_id();
    struct pal_cgroup* c = bpf_map_lookup_elem(&pal_cgroups, &id);

    if (c) return pal_subject_fill(s, id, c);
    for (int level = 1; level < PAL_CGROUP_MAX_DEPTH; level++) {
        __u64 anc = pal_current_ancestor_cgroup_id(level, tracing);

        /* 0: deeper than the task's cgroup; id: reached the task's own cgroup. */
        if (!anc || anc == id) return false;
        c = bpf_map_lookup_elem(&pal_cgroups, &anc);
        if (c) return pal_subject_fill(s, anc, c);
    }
    return false;
}

/* For cgroup programs (connect, sendmsg, sock_create). */
static __always_inline bool pal_current_subject(struct pal_subject* s) {
    return pal_task_subject(s, false);
}

/* For tracing and LSM programs (system call entry, exec). */
static __always_inline bool pal_traced_subject(struct pal_subject* s) {
    return pal_task_subject(s, true);
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
