#include "control/control_request.h"

#include <nlohmann/json.hpp>

namespace palisade {

std::variant<ControlRequest, std::string> parseControlRequest(const std::string& line) {
    const auto req = nlohmann::json::parse(line, nullptr, false);
    if (!req.is_object()) return std::string("request is not a JSON object");
    ControlRequest out;
    const auto cmd = req.find("cmd");
    if (cmd == req.end() || !cmd->is_string()) return std::string("\"cmd\" must be a string");
    const auto& name = cmd->get_ref<const std::string&>();
    if (name == "status") {
        out.cmd = ControlRequest::Command::Status;
    } else if (name == "containers") {
        out.cmd = ControlRequest::Command::Containers;
    } else if (name == "events") {
        out.cmd = ControlRequest::Command::Events;
    } else {
        return std::string("unknown request; expected status, containers or events");
    }
    if (const auto f = req.find("follow"); f != req.end()) {
        if (!f->is_boolean()) return std::string("\"follow\" must be true or false");
        out.follow = f->get<bool>();
    }
    if (const auto f = req.find("filter"); f != req.end()) {
        if (!f->is_string()) return std::string("\"filter\" must be a string");
        out.filter = f->get<std::string>();
    }
    return out;
}

}  // namespace palisade
