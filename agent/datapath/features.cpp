#include "datapath/features.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "datapath/lsm_probe.h"

namespace palisade {

std::string featureName(Feature f) {
    switch (f) {
        case Feature::Btf:
            return "btf";
        case Feature::CgroupSockAddr:
            return "cgroup-sock-addr";
        case Feature::CgroupSock:
            return "cgroup-sock";
        case Feature::CgroupSkb:
            return "cgroup-skb";
        case Feature::RingBuf:
            return "ringbuf";
        case Feature::LpmTrie:
            return "lpm-trie";
        case Feature::BpfLsmType:
            return "bpf-lsm-type";
        case Feature::BpfLsm:
            return "bpf-lsm";
    }
    return "unknown";
}

bool KernelProbe::probe(Feature f) {
    switch (f) {
        case Feature::Btf:
            return access("/sys/kernel/btf/vmlinux", R_OK) == 0;
        case Feature::CgroupSockAddr:
            return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, nullptr) == 1;
        case Feature::CgroupSock:
            return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK, nullptr) == 1;
        case Feature::CgroupSkb:
            return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, nullptr) == 1;
        case Feature::RingBuf:
            return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
        case Feature::LpmTrie:
            return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LPM_TRIE, nullptr) == 1;
        case Feature::BpfLsmType:
            return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_LSM, nullptr) == 1;
        case Feature::BpfLsm: {
            LsmProbeResult lsm = probeBpfLsm();
            if (!lsm.active) spdlog::info("BPF LSM not in use: {}", lsm.why);
            return lsm.active;
        }
    }
    return false;
}

bool Features::has(Feature f) {
    auto& slot = cache_[static_cast<size_t>(f)];
    if (!slot) slot = probe_->probe(f);
    return *slot;
}

std::vector<Feature> Features::missingForEnforcement() {
    std::vector<Feature> missing;
    for (Feature f : {Feature::Btf, Feature::CgroupSockAddr, Feature::CgroupSock,
                      Feature::CgroupSkb, Feature::RingBuf, Feature::LpmTrie}) {
        if (!has(f)) missing.push_back(f);
    }
    return missing;
}

}  // namespace palisade
