// The CLI's side of the control socket (see control_server.h).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace palisade {

// No agent listens at the socket (it is not there, or nobody accepts on it).
struct ControlUnreachable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Sends one request and returns the one JSON reply. Throws ControlUnreachable
// ("cannot reach the agent at PATH: ...") when the agent is not there, and
// std::runtime_error when it has not answered by `deadline` (when given).
nlohmann::json controlRequest(
    const std::string& socketPath, const nlohmann::json& request,
    std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

// Sends an events request and calls `onLine` for every line until the agent
// closes the connection (or `onLine` returns false).
void controlStream(const std::string& socketPath, const nlohmann::json& request,
                   const std::function<bool(const std::string&)>& onLine,
                   std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

}  // namespace palisade
