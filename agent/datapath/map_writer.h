// Writes compiled generations into the policy maps, make-before-break. Works on
// map file descriptors, so the agent's maps and a test object's maps are filled
// by the same code.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>

#include "compiler/compiler.h"

namespace palisade {

struct PolicyMapFds {
    int cgroups = -1;
    int portsets = -1;
    int hosts4 = -1;
    int hosts6 = -1;
    int lpm4 = -1;
    int lpm6 = -1;
    int classes = -1;
    int config = -1;
    int peers = -1;
    int fqdnNames = -1;
};

// The policy maps of a skeleton (the agent's palisade object or a test object:
// both share bpf/maps.bpf.h).
template <typename SkeletonMaps>
PolicyMapFds policyMapFds(const SkeletonMaps& m) {
    return {bpf_map__fd(m.pal_cgroups),   bpf_map__fd(m.pal_portsets), bpf_map__fd(m.pal_hosts4),
            bpf_map__fd(m.pal_hosts6),    bpf_map__fd(m.pal_lpm4),     bpf_map__fd(m.pal_lpm6),
            bpf_map__fd(m.pal_classes),   bpf_map__fd(m.pal_config),   bpf_map__fd(m.pal_peers),
            bpf_map__fd(m.pal_fqdn_names)};
}

class MapWriter {
  public:
    // Starts on empty maps: writes `initial` into pal_config.
    MapWriter(PolicyMapFds fds, const pal_config& initial);

    // Takes over maps a previous agent filled
    // (docs/reference/state-and-lifecycle.md#stop-and-restart): the generation in force stays in
    // force (only `initial`'s NAT64 prefix is written), its entries become the ones the next
    // apply() retires, and leftovers of an apply that was interrupted half-way (the other id slot)
    // are deleted.
    struct Adopt {};
    MapWriter(PolicyMapFds fds, const pal_config& initial, Adopt);

    // A container that gets a policy set already in force: its entry points at
    // that set's epid (and policy) from either generation slot. No generation
    // switch needed.
    void setContainer(uint64_t cgroupId, const MapEntries::ContainerEntry& entry);
    // A container that is gone: its entry goes at once.
    void removeContainer(uint64_t cgroupId);

    // The generation in force (0: none yet).
    uint64_t generation() const { return config_.active_gen; }

    // docs/reference/enforcement.md#reload: the new generation's entries are written beside the
    // current ones, one update of pal_config switches every container at once, and the old entries
    // are deleted after an RCU grace period. `next` must have been compiled with
    // generationIdBase(generation). Throws DatapathError. The switch is done when apply() returns;
    // the old entries are deleted by retire() (called by the next apply() at the latest), so that a
    // caller can report the new generation in force first. A generation that does not fit beside
    // the one in force is refused before anything is written (CapacityError, naming the map and
    // the numbers); one whose writing fails half-way is taken out again. Either way the
    // generation in force stays.
    void apply(const MapEntries& next, uint64_t generation);
    void retire();
    // Why `next` would not fit beside the generation in force, or in empty maps
    // (`besideInForce` false); "" when it fits.
    std::string capacityProblem(const MapEntries& next, bool besideInForce) const;
    // Datapath::containersBeyondRoom.
    std::vector<uint64_t> containersBeyondRoom(const MapEntries& next) const;

  private:
    void removeGeneration(const MapEntries& gen);

    PolicyMapFds fds_;
    pal_config config_;
    MapEntries current_;
    MapEntries retiring_;  // the generation before current_, until retire()
    bool pendingRetire_ = false;
};

}  // namespace palisade
