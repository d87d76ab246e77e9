// The exec policy programs (bpf/exec.bpf.c, SPEC §4.7): a BPF object of their
// own, loaded beside the egress object and sharing its maps. Part of the
// datapath: only bpf_datapath.cpp uses this.
#pragma once

#include <bpf/libbpf.h>

#include <memory>

struct exec_policy;

namespace palisade {

// How a refused exec is stopped.
enum class ExecMechanism {
    Lsm,         // lsm/bprm_creds_from_file: execve() fails with EPERM
    Tracepoint,  // tp_btf/sched_process_exec: SIGKILL before the new image runs
};

const char* execMechanismHook(ExecMechanism m);

class ExecPrograms {
  public:
    // Opens the object, makes it use `shared`'s maps of the same names, and
    // loads the programs of `mechanism` only (the others are not loaded, so a
    // kernel without BPF LSM loads the rest). Throws DatapathError.
    ExecPrograms(bpf_object* shared, ExecMechanism mechanism);
    ~ExecPrograms();
    ExecPrograms(const ExecPrograms&) = delete;
    ExecPrograms& operator=(const ExecPrograms&) = delete;

    bpf_object* object() const;
    ExecMechanism mechanism() const { return mechanism_; }

  private:
    std::unique_ptr<exec_policy, void (*)(exec_policy*)> skel_;
    ExecMechanism mechanism_;
};

}  // namespace palisade
