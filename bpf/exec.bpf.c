// SPDX-License-Identifier: GPL-2.0-only
/*
 * Privilege-raising execs inside containers (docs/reference/enforcement.md#exec-policy): flag or
 * refuse them.
 *
 * Two mechanisms; the agent loads one (bpf_program__set_autoload) by what the
 * kernel offers (agent/datapath/features.cpp):
 *   - BPF LSM, lsm/bprm_creds_from_file: the new credentials are computed and
 *     the capability LSM has adjusted them; a refusal makes execve() fail with
 *     EPERM while the caller's image is still intact.
 *   - otherwise tp_btf/sched_process_exec: the new image is in place but has not
 *     run; a refusal is SIGKILL, delivered before its first instruction. The
 *     credentials are committed by then, so the caller's are snapshotted at the
 *     entry of execve and execveat (tp_btf/sys_enter, bpf/syscalls.bpf.c).
 *
 * Every program is node-wide (an LSM hook is not per cgroup) and acts only on
 * tasks whose cgroup, or an ancestor, is a known container (pal_cgroups): host
 * tasks are never touched.
 */
#include "exec.bpf.h"
#include <bpf/bpf_tracing.h>

static __always_inline const struct cred* pal_current_cred(void) {
    struct task_struct* task = (struct task_struct*)bpf_get_current_task();

    return BPF_CORE_READ(task, cred);
}

/* Fails closed for containers: a refused exec returns EPERM. Fails open for
 * everything else, and an earlier LSM's refusal stands with its own errno. */
SEC("lsm/bprm_creds_from_file")
int BPF_PROG(pal_exec_lsm, struct linux_binprm* bprm, struct file* file, int ret) {
    struct pal_exec_info x = {};
    struct pal_subject s;
    struct pal_decision dec;

    if (ret) return ret;
    pal_creds_read(&x.old, pal_current_cred());
    pal_creds_read(&x.new, BPF_CORE_READ(bprm, cred));
    pal_exec_read_file(&x, bprm, file);
    pal_exec_assess(&x);
    if (!x.privileges) return 0;
    if (!pal_traced_subject(&s)) return 0;
    dec = pal_decide_exec(&s, &x);
    pal_report_exec(&s, PAL_HOOK_LSM_BPRM, dec, &x, BPF_CORE_READ(bprm, filename));
    return dec.verdict == PAL_VERDICT_DENY ? -PAL_EPERM : 0;
}

/* Fallback, step 1: the caller's credentials, before the exec replaces them
 * (at the entry of execve and execveat: bpf/syscalls.bpf.c). */
static __always_inline void pal_exec_snapshot(void) {
    struct pal_subject s;
    struct pal_creds c;
    __u32 tid = (__u32)bpf_get_current_pid_tgid();

    if (!pal_traced_subject(&s) || s.policy.exec_setuid == PAL_EXEC_ALLOW) return;
    pal_creds_read(&c, pal_current_cred());
    bpf_map_update_elem(&pal_exec_creds, &tid, &c, BPF_ANY);
}

/* Fallback, step 2: the exec succeeded and the new credentials are in force.
 * old_pid is the id of the thread that called execve (a non-leader thread
 * takes over the leader's id on the way). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pal_exec_tp, struct task_struct* task, pid_t old_pid, struct linux_binprm* bprm) {
    struct pal_exec_info x = {};
    struct pal_subject s;
    struct pal_decision dec;
    __u32 tid = old_pid;
    struct pal_creds* old = bpf_map_lookup_elem(&pal_exec_creds, &tid);

    pal_creds_read(&x.new, BPF_CORE_READ(task, cred));
    pal_exec_read_file(&x, bprm, BPF_CORE_READ(bprm, file));
    if (old) {
        x.old = *old;
        bpf_map_delete_elem(&pal_exec_creds, &tid);
    } else {
        /* No snapshot: judge against the real ids, as the kernel's own AT_SECURE
         * does, and take per_clear as the sign of capabilities gained. */
        x.old = x.new;
        x.old.euid = x.new.uid;
        x.old.egid = x.new.gid;
        if (x.per_clear & PAL_PER_CLEAR_ON_SETID) x.old.caps = 0;
        x.flags |= PAL_EXECF_OLD_ASSUMED;
    }
    pal_exec_assess(&x);
    if (!x.privileges) return 0;
    if (!pal_traced_subject(&s)) return 0;
    dec = pal_decide_exec(&s, &x);
    pal_report_exec(&s, PAL_HOOK_TP_EXEC, dec, &x, BPF_CORE_READ(bprm, filename));
    /* The signal is delivered on the way back to user space: the new image
     * never runs an instruction. */
    if (dec.verdict == PAL_VERDICT_DENY) bpf_send_signal(PAL_SIGKILL);
    return 0;
}
