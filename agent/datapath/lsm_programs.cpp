#include "datapath/lsm_programs.h"

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

const char* execMechanismHook(RefusalMechanism m) {
    return hookMechanism(m == RefusalMechanism::Lsm ? PAL_HOOK_LSM_BPRM : PAL_HOOK_TP_EXEC);
}

const char* packetSocketMechanismHook(RefusalMechanism m) {
    return hookMechanism(m == RefusalMechanism::Lsm ? PAL_HOOK_LSM_SOCKET : PAL_HOOK_TP_SOCKET);
}

void selectRefusalPrograms(bpf_object* obj, RefusalMechanism mechanism) {
    const bool lsm = mechanism == RefusalMechanism::Lsm;
    bpf_program__set_autoload(program(obj, hookById(PAL_HOOK_LSM_BPRM)->program), lsm);
    bpf_program__set_autoload(program(obj, hookById(PAL_HOOK_LSM_SOCKET)->program), lsm);
    // pal_sys_enter serves both fallbacks: packet sockets, and the snapshots of the caller's
    // credentials at execve/execveat that pal_exec_tp judges by (bpf/syscalls.bpf.c).
    bpf_program__set_autoload(program(obj, hookById(PAL_HOOK_TP_EXEC)->program), !lsm);
    bpf_program__set_autoload(program(obj, hookById(PAL_HOOK_TP_SOCKET)->program), !lsm);
}

}  // namespace palisade
