// The containers the agent knows, indexed by cgroup id, and what changed from
// one scan of the cgroup tree (agent/containers/scan.cpp) to the next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "containers/container.h"

namespace palisade {

// What one scan changed.
struct InventoryDiff {
    std::vector<Container> started;
    std::vector<Container> stopped;
    // A container present before and after has other metadata (name, labels...; its
    // recorded addresses do not count: they select nothing).
    bool metadataChanged = false;
    // Containers whose metadata this scan could not read, and that were unknown or
    // readable before: each is warned about once, not at every rescan.
    std::vector<Container> metadataUnreadable;

    bool changed() const { return !started.empty() || !stopped.empty() || metadataChanged; }
};

class ContainerInventory {
  public:
    // Takes a new scan's containers and says what changed.
    InventoryDiff replace(std::vector<Container> found);

    // In scan order; the compiler's container indexes point into this.
    const std::vector<Container>& containers() const { return containers_; }
    // nullptr when no known container has that cgroup id.
    const Container* find(uint64_t cgroupId) const;
    std::optional<size_t> indexOf(uint64_t cgroupId) const;

  private:
    std::vector<Container> containers_;
    std::map<uint64_t, size_t> byCgroup_;
};

}  // namespace palisade
