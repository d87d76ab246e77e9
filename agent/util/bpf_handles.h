// Owned libbpf objects: every skeleton, link and ring buffer the agent holds is
// one of these, so that a throw can never leak one (the C++ form of systemd's
// `_cleanup_(socket_bind_bpf_freep)`). File descriptors are util/fd.h's Fd.
#pragma once

#include <bpf/libbpf.h>

#include <memory>

// The skeletons (bpftool gen skeleton, build dir only). Their NAME__destroy()
// is a static inline function of the generated header, so the deleter for each
// is defined in the one file that includes that header.
struct palisade_bpf;  // palisade_bpf.skel.h: agent/datapath/bpf_datapath.cpp
struct lsm_probe;     // lsm_probe.skel.h: agent/datapath/lsm_probe.cpp

namespace palisade {

// Calls `Free` on a pointer that is not null.
template <auto Free>
struct BpfFree {
    template <typename T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};

// bpf_link__destroy() drops our reference only: a pinned link stays attached.
using LinkPtr = std::unique_ptr<bpf_link, BpfFree<bpf_link__destroy>>;
using RingBufferPtr = std::unique_ptr<ring_buffer, BpfFree<ring_buffer__free>>;
using ObjectPtr = std::unique_ptr<bpf_object, BpfFree<bpf_object__close>>;

struct SkeletonDestroy {
    void operator()(palisade_bpf* skel) const noexcept;  // palisade_bpf__destroy
    void operator()(lsm_probe* skel) const noexcept;     // lsm_probe__destroy
};
using PalisadeBpfPtr = std::unique_ptr<palisade_bpf, SkeletonDestroy>;
using LsmProbePtr = std::unique_ptr<lsm_probe, SkeletonDestroy>;

}  // namespace palisade
