#include "daemon/container_inventory.h"

namespace palisade {

InventoryDiff ContainerInventory::replace(std::vector<Container> found) {
    InventoryDiff diff;
    std::map<uint64_t, size_t> byCgroup;
    for (size_t i = 0; i < found.size(); i++) byCgroup[found[i].cgroupId] = i;
    for (const auto& c : found) {
        const Container* before = find(c.cgroupId);
        if (!c.metadataError.empty() && (!before || before->metadataError.empty())) {
            diff.metadataUnreadable.push_back(c);
        }
        if (!before) {
            diff.started.push_back(c);
        } else if (!sameIdentity(*before, c)) {
            diff.metadataChanged = true;
        }
    }
    for (const auto& c : containers_) {
        if (!byCgroup.count(c.cgroupId)) diff.stopped.push_back(c);
    }
    containers_ = std::move(found);
    byCgroup_ = std::move(byCgroup);
    return diff;
}

const Container* ContainerInventory::find(uint64_t cgroupId) const {
    auto it = byCgroup_.find(cgroupId);
    return it == byCgroup_.end() ? nullptr : &containers_[it->second];
}

std::optional<size_t> ContainerInventory::indexOf(uint64_t cgroupId) const {
    auto it = byCgroup_.find(cgroupId);
    if (it == byCgroup_.end()) return std::nullopt;
    return it->second;
}

}  // namespace palisade
