#include "datapath/exec_programs.h"

#include <string>

#include "datapath/datapath.h"

namespace palisade {
namespace {

bpf_program* program(bpf_object* obj, const char* name) {
    bpf_program* p = bpf_object__find_program_by_name(obj, name);
    if (!p) throw DatapathError(std::string("BPF object without program ") + name);
    return p;
}

}  // namespace

const char* execMechanismHook(ExecMechanism m) {
    return m == ExecMechanism::Lsm ? "lsm/bprm_creds_from_file" : "tp_btf/sched_process_exec";
}

void selectExecPrograms(bpf_object* obj, ExecMechanism mechanism) {
    const bool lsm = mechanism == ExecMechanism::Lsm;
    bpf_program__set_autoload(program(obj, "pal_exec_lsm"), lsm);
    for (const char* fallback : {"pal_exec_tp", "pal_execve_in", "pal_execveat_in"}) {
        bpf_program__set_autoload(program(obj, fallback), !lsm);
    }
}

}  // namespace palisade
