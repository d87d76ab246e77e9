#include "datapath/exec_programs.h"

#include <string>

#include "datapath/datapath.h"
#include "datapath/hooks.h"

namespace palisade {
namespace {

bpf_program* program(bpf_object* obj, const char* name) {
    bpf_program* p = bpf_object__find_program_by_name(obj, name);
    if (!p) throw DatapathError(std::string("BPF object without program ") + name);
    return p;
}

}  // namespace

const char* execMechanismHook(ExecMechanism m) {
    return hookMechanism(m == ExecMechanism::Lsm ? PAL_HOOK_LSM_BPRM : PAL_HOOK_TP_EXEC);
}

void selectExecPrograms(bpf_object* obj, ExecMechanism mechanism) {
    const bool lsm = mechanism == ExecMechanism::Lsm;
    bpf_program__set_autoload(program(obj, hookById(PAL_HOOK_LSM_BPRM)->program), lsm);
    // Its snapshots of the caller's credentials are taken by pal_sys_enter,
    // turned on with pal_exec_snapshots (bpf/syscalls.bpf.c).
    bpf_program__set_autoload(program(obj, hookById(PAL_HOOK_TP_EXEC)->program), !lsm);
}

}  // namespace palisade
