// What the running kernel offers, probed once and cached
// (docs/reference/enforcement.md#kernel-features-and-fallbacks). The probe is injectable so that
// unit tests can fake any kernel.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace palisade {

enum class Feature {
    Btf,             // /sys/kernel/btf/vmlinux: CO-RE relocations
    CgroupSockAddr,  // cgroup connect4/6, sendmsg4/6
    CgroupSock,      // cgroup/sock_create
    CgroupSkb,       // cgroup_skb egress/ingress
    RingBuf,
    LpmTrie,
    BpfLsmType,  // the kernel knows BPF_PROG_TYPE_LSM (whether it may attach is another matter)
    BpfLsm,      // BPF LSM programs attach and run (datapath/lsm_probe.h); else exec
                 // policy falls back to tp_btf/sched_process_exec
    // Helpers that choose a program's variant (bpf/container.bpf.h, bpf/events.bpf.h):
    TracingAncestorCgroup,  // bpf_get_current_ancestor_cgroup_id in tracing and LSM programs;
                            // else a CO-RE walk of the task's cgroups (Linux 5.10)
    SkbCurrentTask,         // bpf_get_current_{pid_tgid,uid_gid,comm} in cgroup_skb programs;
                            // else packet events name no process (Linux 6.1)
    MemcgAccounting,        // BPF memory charged to the memory cgroup (5.11); before, to
                            // RLIMIT_MEMLOCK (datapath/preflight.h)
};
inline constexpr std::array kAllFeatures{Feature::Btf,
                                         Feature::CgroupSockAddr,
                                         Feature::CgroupSock,
                                         Feature::CgroupSkb,
                                         Feature::RingBuf,
                                         Feature::LpmTrie,
                                         Feature::BpfLsmType,
                                         Feature::BpfLsm,
                                         Feature::TracingAncestorCgroup,
                                         Feature::SkbCurrentTask,
                                         Feature::MemcgAccounting};

std::string featureName(Feature f);

class FeatureProbe {
  public:
    virtual ~FeatureProbe() = default;
    virtual bool probe(Feature f) = 0;
};

// Asks the kernel (libbpf's probes: a real load of a minimal program or map).
class KernelProbe : public FeatureProbe {
  public:
    bool probe(Feature f) override;
};

class Features {
  public:
    explicit Features(std::unique_ptr<FeatureProbe> probe) : probe_(std::move(probe)) {}

    bool has(Feature f);
    // The features enforcement cannot do without that this kernel lacks.
    std::vector<Feature> missingForEnforcement();

  private:
    std::unique_ptr<FeatureProbe> probe_;
    std::array<std::optional<bool>, kAllFeatures.size()> cache_;
};

}  // namespace palisade
