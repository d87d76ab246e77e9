// Which generation of map entries is in force, and how policy and container
// changes reach the kernel (docs/architecture.md). A new container whose policy
// set is in force already just gets its pal_cgroups entry (the fast path);
// anything else -- a policy change, a container that starts a new policy set
// or is the target of a toContainers rule, changed metadata -- is compiled into
// the next generation and switched to make-before-break by the Datapath.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/container_inventory.h"
#include "daemon/event_pump.h"
#include "daemon/policy_store.h"
#include "datapath/datapath.h"

namespace palisade {

class GenerationControl {
  public:
    // Starts from the generation the datapath holds (adopted after a restart).
    GenerationControl(Datapath& datapath, const PolicyStore& store,
                      const ContainerInventory& inventory, const Config::Defaults& defaults,
                      EventPump& events);

    uint64_t generation() const { return generation_; }

    // Compiles the policies and containers as they are now and puts them in
    // force. When they cannot be compiled, the generation in force stays, a
    // policy-rejected event says why, and it returns false.
    bool applyNext();

    // Puts one scan's changes in force: the fast path when it can, else applyNext().
    void containersChanged(const InventoryDiff& diff);

    // The policy names behind an epid of this or the previous generation
    // (nullptr: not known; empty: the container is unmatched).
    const std::vector<std::string>* policiesOf(uint32_t epid) const;
    // Whether the container of that cgroup has its pal_cgroups entry (its policy
    // set's, or the unmatched default's) in the kernel.
    bool inForce(uint64_t cgroupId) const { return epidByCgroup_.contains(cgroupId); }
    // The policies of each known container, by cgroup id (empty: unmatched).
    std::map<uint64_t, std::vector<std::string>> policiesByCgroup() const;

  private:
    // Whether a toContainers rule selects `c` (its arrival changes peer entries).
    bool isPeerTarget(const Container& c) const;
    // The fast path: true when every started container got an entry of a
    // policy set in force (and the stopped ones lost theirs).
    bool tryFastPath(const InventoryDiff& diff);

    Datapath& datapath_;
    const PolicyStore& store_;
    const ContainerInventory& inventory_;
    const Config::Defaults& defaults_;
    EventPump& events_;
    uint64_t generation_;
    std::map<uint64_t, uint32_t> epidByCgroup_;
    std::map<uint32_t, std::vector<std::string>> epidPolicies_;  // this and the last generation
};

}  // namespace palisade
