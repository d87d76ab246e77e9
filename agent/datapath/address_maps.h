// pal_addr4 / pal_addr6: which container owns an address
// (docs/reference/enforcement.md#inter-container).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "containers/netns_addresses.h"

namespace palisade {

// Makes the two maps hold exactly `byContainer` (address -> cgroup id): new and
// moved addresses are written, addresses no container holds any more are
// deleted, whoever wrote them (an earlier agent too). Returns the number of
// entries changed. A map that is full gets what fits, then a CapacityError says how
// many addresses were left out; any other refused write throws DatapathError.
int syncAddressMaps(int addr4Fd, int addr6Fd,
                    const std::map<uint64_t, std::vector<IpAddress>>& byContainer);

}  // namespace palisade
