/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Privilege-raising execs (docs/reference/enforcement.md#exec-policy): what an exec grants, the
 * verdict, the event.
 *
 * An exec raises privileges when the credentials the kernel computed for the new
 * image give more than the caller had: another effective uid or gid (a
 * set-user-ID or set-group-ID file) or more permitted capabilities (file
 * capabilities). The credentials are compared, not the mode bits: a set-user-ID
 * file on a nosuid mount, or one that the caller owns, raises nothing. The mode
 * bits only explain an attempt that no_new_privs defeated.
 */
#pragma once

#include "events.bpf.h"
#include <bpf/bpf_core_read.h>

/* Macros of the UAPI and kernel headers that vmlinux.h lacks. */
#define PAL_S_ISUID 04000
#define PAL_S_ISGID 02000
#define PAL_S_IXGRP 00010
#define PAL_LSM_UNSAFE_NO_NEW_PRIVS 4
/* READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO:
 * set in bprm->per_clear when a set-id bit is honoured or capabilities are
 * gained, even when no_new_privs then takes the capabilities back. */
#define PAL_PER_CLEAR_ON_SETID 0x0740000

struct pal_exec_info {
    struct pal_creds old;
    struct pal_creds new;
    __u32 file_uid;
    __u32 file_gid;
    __u32 file_mode;
    __u32 per_clear;
    bool nnp;
    __u8 privileges; /* enum pal_priv_bits */
    __u8 flags;      /* enum pal_exec_flags */
};

static __always_inline void pal_creds_read(struct pal_creds* c, const struct cred* cred) {
    c->uid = BPF_CORE_READ(cred, uid.val);
    c->gid = BPF_CORE_READ(cred, gid.val);
    c->euid = BPF_CORE_READ(cred, euid.val);
    c->egid = BPF_CORE_READ(cred, egid.val);
    /* kernel_cap_t is a u64 since 6.3 and two u32 before: the same 8 bytes. */
    bpf_core_read(&c->caps, sizeof(c->caps), &cred->cap_permitted);
}

static __always_inline void pal_exec_read_file(struct pal_exec_info* x,
                                               const struct linux_binprm* bprm,
                                               const struct file* file) {
    struct inode* inode = BPF_CORE_READ(file, f_inode);

    x->file_uid = BPF_CORE_READ(inode, i_uid.val);
    x->file_gid = BPF_CORE_READ(inode, i_gid.val);
    x->file_mode = BPF_CORE_READ(inode, i_mode);
    x->per_clear = BPF_CORE_READ(bprm, per_clear);
    x->nnp = BPF_CORE_READ(bprm, unsafe) & PAL_LSM_UNSAFE_NO_NEW_PRIVS;
}

/* Sets x->privileges (and the no_new_privs flag) from the old and new credentials. */
static __always_inline void pal_exec_assess(struct pal_exec_info* x) {
    /* A task whose effective uid is root holds whatever an exec could grant;
     * root regaining its bounding set at exec is root's own semantics. */
    if (x->old.euid == 0) return;
    if (x->new.euid != x->old.euid) x->privileges |= PAL_PRIV_SETUID;
    if (x->new.egid != x->old.egid) x->privileges |= PAL_PRIV_SETGID;
    if (x->new.caps & ~x->old.caps) x->privileges |= PAL_PRIV_CAPS;
    if (x->privileges || !x->nnp) return;

    /* no_new_privs: the kernel ignored the file's set-id bits and took back its
     * capabilities, so nothing changed. Report what the file tried to grant. */
    if ((x->file_mode & PAL_S_ISUID) && x->file_uid != x->old.euid)
        x->privileges |= PAL_PRIV_SETUID;
    if ((x->file_mode & (PAL_S_ISGID | PAL_S_IXGRP)) == (PAL_S_ISGID | PAL_S_IXGRP) &&
        x->file_gid != x->old.egid)
        x->privileges |= PAL_PRIV_SETGID;
    /* bprm_fill_uid() leaves per_clear alone under no_new_privs: only the
     * capability LSM's "capabilities gained" sets it then. */
    if (x->per_clear & PAL_PER_CLEAR_ON_SETID) x->privileges |= PAL_PRIV_CAPS;
    if (x->privileges) x->flags |= PAL_EXECF_NO_NEW_PRIVS;
}

/* `allow` lets it be, `flag` reports, `deny` refuses (audit mode: reports what
 * it would have refused). An attempt no_new_privs defeated raised nothing, so
 * it is reported, never refused. */
static __always_inline struct pal_decision pal_decide_exec(const struct pal_subject* s,
                                                           const struct pal_exec_info* x) {
    struct pal_decision dec = {.verdict = PAL_VERDICT_ALLOW, .reason = PAL_REASON_SETUID_EXEC};

    switch (s->policy.exec_setuid) {
        case PAL_EXEC_FLAG:
            dec.verdict = PAL_VERDICT_FLAG;
            break;
        case PAL_EXEC_DENY:
            if (x->flags & PAL_EXECF_NO_NEW_PRIVS)
                dec.verdict = PAL_VERDICT_FLAG;
            else
                dec.verdict =
                    s->policy.mode == PAL_MODE_ENFORCE ? PAL_VERDICT_DENY : PAL_VERDICT_AUDIT;
            break;
        default:
            dec.reason = PAL_REASON_NONE;
    }
    return dec;
}

/* Counts every verdict on a privilege-raising exec; reports all but allow. */
static __always_inline void pal_report_exec(const struct pal_subject* s, __u8 hook,
                                            struct pal_decision dec, const struct pal_exec_info* x,
                                            const char* filename) {
    struct pal_exec_event* e;

    pal_count(PAL_COUNTER_VERDICT(hook, dec.verdict, dec.reason));
    if (dec.verdict == PAL_VERDICT_ALLOW) return;
    e = pal_reserve(s, sizeof(*e), true);
    if (!e) return;
    __builtin_memset(e, 0, sizeof(*e));
    pal_header_fill(&e->h, PAL_EVENT_EXEC, s, hook, dec);
    e->old_euid = x->old.euid;
    e->new_euid = x->new.euid;
    e->old_egid = x->old.egid;
    e->new_egid = x->new.egid;
    e->old_caps = x->old.caps;
    e->new_caps = x->new.caps;
    e->file_uid = x->file_uid;
    e->file_gid = x->file_gid;
    e->file_mode = x->file_mode;
    e->privileges = x->privileges;
    e->flags = x->flags;
    bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
    pal_submit(e, sizeof(*e));
}
