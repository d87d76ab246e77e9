// SPDX-License-Identifier: GPL-2.0-only
/*
 * Every palisade program in one BPF object, so that loading them parses the
 * kernel's BTF once (~60 ms each time on a small VM: docs/reference/targets.md start-up):
 *   - egress.bpf.c: the cgroup socket and packet hooks (docs/reference/enforcement.md);
 *   - exec.bpf.c: the exec policy (docs/reference/enforcement.md#exec-policy), of which the agent
 * loads the BPF LSM program or the tracepoint fallback (bpf_program__set_autoload);
 *   - syscalls.bpf.c: the entry of socket() and exec calls, for both.
 */
#include "egress.bpf.c"
#include "exec.bpf.c"
#include "syscalls.bpf.c"

char LICENSE[] SEC("license") = "GPL";
