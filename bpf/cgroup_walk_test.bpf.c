// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test wrapper: the CO-RE walk of the current task's cgroup ancestors that
 * tracing programs use where the kernel refuses them
 * bpf_get_current_ancestor_cgroup_id (bpf/container.bpf.h), run through
 * BPF_PROG_TEST_RUN in the calling task. For every level, what the walk
 * returns and, when pal_tracing_has_ancestor is set, what the helper returns.
 */
#include "container.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct pal_test_ancestor {
    __u64 walk;
    __u64 helper;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, PAL_CGROUP_MAX_DEPTH);
    __type(key, __u32);
    __type(value, struct pal_test_ancestor);
} pal_test_ancestors SEC(".maps");

SEC("raw_tp")
int pal_test_walk(void* ctx) {
    for (int level = 0; level < PAL_CGROUP_MAX_DEPTH; level++) {
        __u32 key = level; /* a copy: the loop's bound stays known to the verifier */
        struct pal_test_ancestor* out = bpf_map_lookup_elem(&pal_test_ancestors, &key);

        if (!out) return 0;
        out->walk = pal_task_ancestor_cgroup_id(level);
        out->helper = pal_tracing_has_ancestor ? bpf_get_current_ancestor_cgroup_id(level) : 0;
    }
    return 0;
}
