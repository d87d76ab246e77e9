// What addresses each container has (docs/reference/enforcement.md#inter-container): read with
// netlink from inside the container's network namespace, found through a process in its cgroup.
#pragma once

#include <sys/types.h>

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "containers/container.h"
#include "util/fd.h"

namespace palisade {

struct IpAddress {
    uint8_t family = 4;               // 4 or 6
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, network order
    auto operator<=>(const IpAddress&) const = default;
    std::string str() const;
};

// Learns the addresses of containers, again and again (the agent asks every
// second). Each network namespace is entered once, to open a netlink socket
// that stays in it; after that a learn() costs one RTM_GETADDR dump per
// namespace and nothing per container whose namespace is known, so that an
// idle agent with a thousand containers stays idle (docs/reference/targets.md).
class AddressLearner {
  public:
    AddressLearner();
    AddressLearner(const AddressLearner&) = delete;
    AddressLearner& operator=(const AddressLearner&) = delete;

    // The addresses of every container that has a network namespace of its own
    // (one with a process in its cgroup, other than the agent's namespace: a
    // container on the host network has no address of its own), by cgroup id.
    // Loopback and other host-scope addresses are left out. Containers with no
    // process yet are absent. Never throws; a namespace that cannot be read is
    // logged and skipped.
    std::map<uint64_t, std::vector<IpAddress>> learn(const std::vector<Container>& containers);
    // Makes the next learn() find every container's namespace again (a
    // container whose processes were replaced may be in another one now).
    void forgetNamespaces();

  private:
    ino_t own_;                          // the agent's network namespace
    std::map<uint64_t, ino_t> netnsOf_;  // by cgroup id; own_: host network
    std::map<ino_t, Fd> sockets_;        // netlink sockets, one per namespace
};

}  // namespace palisade
