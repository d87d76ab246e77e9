/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The system calls palisade looks at on their way in (tp_btf/sys_enter): which
 * call a sys_enter is, and its arguments, for 64-bit tasks and, on x86, for
 * 32-bit ones (int $0x80, sysenter), whose calls have numbers of their own: a
 * 32-bit task's call 41 is dup(), not socket().
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

enum pal_syscall_kind {
    PAL_SYSCALL_OTHER,
    PAL_SYSCALL_SOCKET, /* args: family, type, protocol */
    PAL_SYSCALL_EXEC,   /* execve or execveat */
};

struct pal_syscall {
    enum pal_syscall_kind kind;
    __u32 args[3];
};

#if defined(__TARGET_ARCH_x86)
#define PAL_NR_SOCKET 41
#define PAL_NR_EXECVE 59
#define PAL_NR_EXECVEAT 322
/* arch/x86/entry/syscalls/syscall_32.tbl */
#define PAL_NR32_SOCKETCALL 102
#define PAL_NR32_SOCKET 359
#define PAL_NR32_EXECVE 11
#define PAL_NR32_EXECVEAT 358
#define PAL_SYS_SOCKET 1     /* socketcall(SYS_SOCKET, args) */
#define PAL_TS_COMPAT 0x0002 /* thread_info.status: in a 32-bit system call */
#elif defined(__TARGET_ARCH_arm64)
/* No 32-bit (AArch32) tasks here: their calls pass unlooked at. */
#define PAL_NR_SOCKET 198
#define PAL_NR_EXECVE 221
#define PAL_NR_EXECVEAT 281
#else
#error "palisade: the system call numbers of this architecture are not known (bpf/syscalls.bpf.h)"
#endif

static __always_inline bool pal_syscall_decode(struct pt_regs* regs, long id,
                                               struct pal_syscall* call) {
#if defined(__TARGET_ARCH_x86)
    if (id != PAL_NR_SOCKET && id != PAL_NR_EXECVE && id != PAL_NR_EXECVEAT &&
        id != PAL_NR32_SOCKETCALL && id != PAL_NR32_SOCKET && id != PAL_NR32_EXECVE &&
        id != PAL_NR32_EXECVEAT)
        return false;
    struct task_struct* task = (struct task_struct*)bpf_get_current_task();

    if (BPF_CORE_READ(task, thread_info.status) & PAL_TS_COMPAT) {
        /* 32-bit arguments: ebx, ecx, edx. */
        if (id == PAL_NR32_EXECVE || id == PAL_NR32_EXECVEAT) {
            call->kind = PAL_SYSCALL_EXEC;
            return true;
        }
        if (id == PAL_NR32_SOCKET) {
            call->args[0] = BPF_CORE_READ(regs, bx);
            call->args[1] = BPF_CORE_READ(regs, cx);
            call->args[2] = BPF_CORE_READ(regs, dx);
        } else if (id == PAL_NR32_SOCKETCALL && BPF_CORE_READ(regs, bx) == PAL_SYS_SOCKET) {
            /* The arguments are three 32-bit words in the caller's memory. A
             * read that fails leaves family 0, which nothing acts on. */
            bpf_probe_read_user(call->args, sizeof(call->args),
                                (const void*)(long)(__u32)BPF_CORE_READ(regs, cx));
        } else {
            return false;
        }
        call->kind = PAL_SYSCALL_SOCKET;
        return true;
    }
#else
    if (id != PAL_NR_SOCKET && id != PAL_NR_EXECVE && id != PAL_NR_EXECVEAT) return false;
#endif
    if (id == PAL_NR_EXECVE || id == PAL_NR_EXECVEAT) {
        call->kind = PAL_SYSCALL_EXEC;
        return true;
    }
    if (id != PAL_NR_SOCKET) return false;
    call->kind = PAL_SYSCALL_SOCKET;
    call->args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    call->args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    call->args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    return true;
}
