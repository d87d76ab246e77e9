// SPDX-License-Identifier: GPL-2.0-only
/*
 * The entry of every system call on the node (tp_btf/sys_enter), loaded only
 * where BPF LSM is not in use, for what no cgroup hook sees and the LSM programs
 * would otherwise refuse: socket(AF_PACKET or AF_XDP, ...) (bpf/egress.bpf.c) and
 * the exec fallback's snapshots of the caller's credentials at execve/execveat
 * (bpf/exec.bpf.c). A raw tracepoint, attached without
 * perf_event_open() or tracefs: CAP_BPF and CAP_PERFMON are enough, also where
 * kernel.perf_event_paranoid is above 2 (Debian's default). It runs for every
 * system call of every task, so it leaves at the first test of the call's
 * number.
 */
#include "syscalls.bpf.h"

SEC("tp_btf/sys_enter")
int BPF_PROG(pal_sys_enter, struct pt_regs* regs, long id) {
    struct pal_syscall call = {};

    if (!pal_syscall_decode(regs, id, &call)) return 0;
    if (call.kind == PAL_SYSCALL_SOCKET) {
        pal_socket_enter(call.args[0], call.args[1], call.args[2]);
    } else {
        pal_exec_snapshot(); /* execve or execveat */
    }
    return 0;
}
