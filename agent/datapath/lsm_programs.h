// The programs that refuse what only a BPF LSM hook can refuse, and their tracepoint
// fallbacks: the exec policy (bpf/exec.bpf.c, docs/reference/enforcement.md#exec-policy) and
// packet sockets (bpf/egress.bpf.c, docs/reference/enforcement.md#raw-and-packet-sockets), part
// of the palisade BPF object: which of them a kernel loads. Part of the datapath: only
// bpf_datapath.cpp uses this.
#pragma once

#include <bpf/libbpf.h>

namespace palisade {

// How a refused exec or packet socket is stopped.
enum class RefusalMechanism {
    Lsm,         // lsm/bprm_creds_from_file, lsm/socket_create: the call fails with EPERM
    Tracepoint,  // tp_btf/sched_process_exec, tp_btf/sys_enter: SIGKILL
};

const char* execMechanismHook(RefusalMechanism m);
const char* packetSocketMechanismHook(RefusalMechanism m);

// Before `obj` is loaded: only the programs of `mechanism` are to be loaded
// (so a kernel without BPF LSM loads the rest, and one with it does not run the
// tracepoint at every system call). Throws DatapathError when the object lacks one.
void selectRefusalPrograms(bpf_object* obj, RefusalMechanism mechanism);

}  // namespace palisade
