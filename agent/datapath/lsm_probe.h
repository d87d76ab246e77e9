// Whether BPF LSM programs really run on this kernel, found as tetragon and
// systemd find it, and one step further.
#pragma once

#include <string>
#include <string_view>

namespace palisade {

// Whether "bpf" is one of the comma-separated names of /sys/kernel/security/lsm.
bool lsmListHasBpf(std::string_view list);

struct LsmProbeResult {
    bool active = false;
    std::string why;  // when not active: which step said no, and how
};

// 1. the kernel knows BPF_PROG_TYPE_LSM; 2. "bpf" is in the active LSM list
// (when securityfs is not mounted the list cannot be read, and the next step
// decides alone); 3. a pass-through program on lsm/task_getpgid loads,
// attaches, and is called for the agent's own getpgid(): a kernel may accept
// the attachment of a hook it never calls.
LsmProbeResult probeBpfLsm();

}  // namespace palisade
