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
};
inline constexpr std::array kAllFeatures{
    Feature::Btf,     Feature::CgroupSockAddr, Feature::CgroupSock, Feature::CgroupSkb,
    Feature::RingBuf, Feature::LpmTrie,        Feature::BpfLsmType, Feature::BpfLsm};

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
