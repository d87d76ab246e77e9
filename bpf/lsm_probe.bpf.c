// SPDX-License-Identifier: GPL-2.0-only
/*
 * The BPF LSM feature probe (agent/datapath/lsm_probe.cpp): attached for a
 * moment, it counts the agent's own getpgid() calls. A kernel can accept the
 * program and the attachment and still never call it (BPF LSM built in but
 * not in the active LSM list on older kernels), so only a call that arrives
 * proves the hooks work. It passes every verdict on unchanged.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 probe_tgid = 0; /* the agent, set before load */
__u64 probe_hits = 0;

SEC("lsm/task_getpgid")
int BPF_PROG(pal_lsm_probe, struct task_struct* p, int ret) {
    if (bpf_get_current_pid_tgid() >> 32 == probe_tgid) __sync_fetch_and_add(&probe_hits, 1);
    return ret;
}
