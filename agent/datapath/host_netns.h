// The network namespace the agent runs in, which is the host's (the unit and the DaemonSet
// run it there): loopback in it reaches the host's own services, so a container sharing it
// has loopback judged like any address (docs/reference/enforcement.md#loopback).
#pragma once

#include <cstdint>
#include <optional>

namespace palisade {

// The agent's network namespace cookie (SO_NETNS_COOKIE, Linux 5.14), what
// bpf_get_netns_cookie() returns for sockets in it; nullopt when the kernel cannot say.
std::optional<uint64_t> hostNetnsCookie();

}  // namespace palisade
