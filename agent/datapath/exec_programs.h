// The exec policy programs (bpf/exec.bpf.c, docs/reference/enforcement.md#exec-policy), part of the
// palisade BPF object: which of them a kernel loads. Part of the datapath: only bpf_datapath.cpp
// uses this.
#pragma once

#include <bpf/libbpf.h>

namespace palisade {

// How a refused exec is stopped.
enum class ExecMechanism {
    Lsm,         // lsm/bprm_creds_from_file: execve() fails with EPERM
    Tracepoint,  // tp_btf/sched_process_exec: SIGKILL before the new image runs
};

const char* execMechanismHook(ExecMechanism m);

// Before `obj` is loaded: only the programs of `mechanism` are to be loaded
// (so a kernel without BPF LSM loads the rest). Throws DatapathError when the
// object lacks one of them.
void selectExecPrograms(bpf_object* obj, ExecMechanism mechanism);

}  // namespace palisade
