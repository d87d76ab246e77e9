// What addresses each container has (SPEC §4.2): read with netlink from inside
// the container's network namespace, found through a process in its cgroup.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "containers/container.h"

namespace palisade {

struct IpAddress {
    uint8_t family = 4;               // 4 or 6
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, network order
    auto operator<=>(const IpAddress&) const = default;
    std::string str() const;
};

// The addresses of every container that has a network namespace of its own
// (one with a process in its cgroup, other than the agent's namespace: a
// container on the host network has no address of its own), by cgroup id.
// Loopback and other host-scope addresses are left out. Containers with no
// process yet are absent. Never throws; a namespace that cannot be read is
// logged and skipped.
std::map<uint64_t, std::vector<IpAddress>> learnAddresses(const std::vector<Container>& containers);

}  // namespace palisade
