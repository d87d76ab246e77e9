#include "datapath/features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iterator>
#include <string>

#include "datapath/lsm_probe.h"

namespace palisade {
namespace {

// Whether programs of `type` (attached as `attach`) may call `helper`: a program that
// calls it and exits, loaded with the verifier's log. Wrong arguments fail the load
// too, after the helper was accepted; the verifier's refusal of the helper itself says
// no: "invalid func", "unknown func" on older kernels, and "program of this type cannot
// use helper" on newer ones (6.12), which libbpf 1.1's own probe takes for a yes. A load
// refused before the verifier ran (no log: privileges, RLIMIT_MEMLOCK) says no too:
// every variant chosen by a probe works without its helper.
bool helperAllowed(bpf_prog_type type, bpf_attach_type attach, bpf_func_id helper) {
    const bpf_insn insns[] = {
        {.code = BPF_JMP | BPF_CALL, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = helper},
        {.code = BPF_ALU64 | BPF_MOV | BPF_K,
         .dst_reg = BPF_REG_0,
         .src_reg = 0,
         .off = 0,
         .imm = 0},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    std::string log(16 * 1024, '\0');
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .log_level = 1,
                .log_size = static_cast<uint32_t>(log.size()), .log_buf = log.data());
    const int fd = bpf_prog_load(type, nullptr, "GPL", insns, std::size(insns), &opts);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    if (log[0] == '\0') return false;
    for (const char* refusal :
         {"invalid func ", "unknown func ", "program of this type cannot use helper "}) {
        if (log.find(refusal) != std::string::npos) return false;
    }
    return true;
}

}  // namespace

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
        case Feature::TracingAncestorCgroup:
            return "tracing-ancestor-cgroup";
        case Feature::SkbCurrentTask:
            return "skb-current-task";
        case Feature::MemcgAccounting:
            return "memcg-accounting";
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
        case Feature::TracingAncestorCgroup:
            // Raw tracepoints have the helpers of tp_btf and LSM programs, and
            // libbpf can probe them without an attach target.
            return helperAllowed(BPF_PROG_TYPE_RAW_TRACEPOINT, bpf_attach_type{},
                                 BPF_FUNC_get_current_ancestor_cgroup_id);
        case Feature::SkbCurrentTask:
            for (bpf_func_id h : {BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_current_uid_gid,
                                  BPF_FUNC_get_current_comm, BPF_FUNC_get_current_cgroup_id}) {
                if (!helperAllowed(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, h))
                    return false;
            }
            return true;
        case Feature::MemcgAccounting:
            // Came in the same release as bpf_ktime_get_coarse_ns (5.11): libbpf's own
            // test, which no other interface answers without a memory cgroup to read.
            return helperAllowed(BPF_PROG_TYPE_SOCKET_FILTER, bpf_attach_type{},
                                 BPF_FUNC_ktime_get_coarse_ns);
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
