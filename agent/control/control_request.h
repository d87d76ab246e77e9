// One request on the control socket (docs/reference/cli.md#control-socket): a
// JSON object on one line, {"cmd": "status" | "containers" | "events" |
// "await-container"} with, for events, "follow" (bool) and "filter" (string), and
// for await-container (`palisade oci-hook`) "cgroupId" (the container's cgroup, a
// positive integer) and optionally "id" (the runtime's name for the container, for
// the agent's log). Anything else is an error reply, never an exception: the bytes
// come from any client of the socket.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace palisade {

struct ControlRequest {
    enum class Command { Status, Containers, Events, AwaitContainer };
    Command cmd = Command::Status;
    bool follow = false;
    std::string filter;
    uint64_t cgroupId = 0;
    std::string containerId;
};

// The longest "id" an await-container request may carry (an OCI id is 64 hex
// characters with podman, docker and CRI-O; any string is allowed).
constexpr size_t kMaxContainerIdBytes = 256;

// The request, or the text of the error reply.
std::variant<ControlRequest, std::string> parseControlRequest(const std::string& line);

}  // namespace palisade
