#include "datapath/exec_programs.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "datapath/datapath.h"
#include "exec_policy.skel.h"

namespace palisade {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    throw DatapathError(what + ": " + std::strerror(err < 0 ? -err : err));
}

}  // namespace

const char* execMechanismHook(ExecMechanism m) {
    return m == ExecMechanism::Lsm ? "lsm/bprm_creds_from_file" : "tp_btf/sched_process_exec";
}

ExecPrograms::ExecPrograms(bpf_object* shared, ExecMechanism mechanism)
    : skel_(exec_policy__open(), exec_policy__destroy), mechanism_(mechanism) {
    if (!skel_) fail("open BPF object exec_policy", errno);
    bpf_map* map;
    bpf_object__for_each_map(map, skel_->obj) {
        if (bpf_map__is_internal(map)) continue;
        // Its own maps (the fallback's credential snapshots) are created at load.
        bpf_map* same = bpf_object__find_map_by_name(shared, bpf_map__name(map));
        if (!same) continue;
        if (int err = bpf_map__reuse_fd(map, bpf_map__fd(same))) {
            fail(std::string("share map ") + bpf_map__name(map) + " with exec_policy", err);
        }
    }
    const bool lsm = mechanism == ExecMechanism::Lsm;
    auto& p = skel_->progs;
    bpf_program__set_autoload(p.pal_exec_lsm, lsm);
    for (bpf_program* fallback : {p.pal_exec_tp, p.pal_execve_in, p.pal_execveat_in}) {
        bpf_program__set_autoload(fallback, !lsm);
    }
    if (int err = exec_policy__load(skel_.get())) {
        fail(std::string("load BPF programs (exec_policy, ") + execMechanismHook(mechanism) + ")",
             err);
    }
    spdlog::info("exec policy through {}: a refused exec {}", execMechanismHook(mechanism),
                 lsm ? "fails with EPERM" : "is killed (SIGKILL) before the new image runs");
}

ExecPrograms::~ExecPrograms() = default;

bpf_object* ExecPrograms::object() const { return skel_->obj; }

}  // namespace palisade
