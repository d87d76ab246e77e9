// pal_addr4 / pal_addr6: which container owns an address
// (docs/reference/enforcement.md#inter-container).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "containers/netns_addresses.h"

namespace palisade {

struct AddressMapFds {
    int addr4;
    int addr6;
    int endpoints;
};

// Makes pal_addr4 / pal_addr6 hold exactly `byContainer` (address -> cgroup id, or the
// container's endpoint when `endpoints` names one) and pal_endpoints exactly `endpoints`
// (cgroup id -> the endpoint of the pod it is in): new and moved entries are written,
// those no longer wanted are deleted, whoever wrote them (an earlier agent too). Returns
// the number of entries changed. A map that is full gets what fits, then a CapacityError
// says how many entries were left out; any other refused write throws DatapathError.
int syncAddressMaps(const AddressMapFds& fds,
                    const std::map<uint64_t, std::vector<IpAddress>>& byContainer,
                    const std::map<uint64_t, uint64_t>& endpoints);

}  // namespace palisade
