// One request on the control socket (docs/reference/cli.md#control-socket): a
// JSON object on one line, {"cmd": "status" | "containers" | "events"} with,
// for events, "follow" (bool) and "filter" (string). Anything else is an error
// reply, never an exception: the bytes come from any client of the socket.
#pragma once

#include <string>
#include <variant>

namespace palisade {

struct ControlRequest {
    enum class Command { Status, Containers, Events };
    Command cmd = Command::Status;
    bool follow = false;
    std::string filter;
};

// The request, or the text of the error reply.
std::variant<ControlRequest, std::string> parseControlRequest(const std::string& line);

}  // namespace palisade
