#include "control/control_request.h"

#include <nlohmann/json.hpp>

namespace palisade {
namespace {

std::variant<ControlRequest, std::string> parseAwaitContainer(const nlohmann::json& req) {
    ControlRequest out;
    out.cmd = ControlRequest::Command::AwaitContainer;
    const auto cgroup = req.find("cgroupId");
    // A cgroup id is an inode number: never 0, and JSON gives it as an unsigned integer.
    if (cgroup == req.end() || !cgroup->is_number_unsigned() || cgroup->get<uint64_t>() == 0) {
        return std::string("\"cgroupId\" must be a positive integer");
    }
    out.cgroupId = cgroup->get<uint64_t>();
    if (const auto id = req.find("id"); id != req.end()) {
        if (!id->is_string() || id->get_ref<const std::string&>().size() > kMaxContainerIdBytes) {
            return "\"id\" must be a string of at most " + std::to_string(kMaxContainerIdBytes) +
                   " bytes";
        }
        out.containerId = id->get<std::string>();
    }
    return out;
}

}  // namespace

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
    } else if (name == "await-container") {
        return parseAwaitContainer(req);
    } else {
        return std::string(
            "unknown request; expected status, containers, events or await-container");
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
