#include "control/oci_hook.h"

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <istream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <thread>

#include "containers/container.h"
#include "control/control_client.h"
#include "control/control_request.h"
#include "events/event_format.h"

namespace palisade {
namespace {

using Deadline = std::chrono::steady_clock::time_point;

// How often an agent that cannot be reached is tried again.
constexpr std::chrono::milliseconds kRetryEvery{20};

// The cgroup the container's first process is in, as the kernel's cgroup id, or
// nullopt when that process is in no cgroup v2 directory (then it is not ours).
std::optional<uint64_t> containerCgroupId(pid_t pid) {
    const std::string procPath = "/proc/" + std::to_string(pid) + "/cgroup";
    std::ifstream in(procPath);
    std::stringstream text;
    if (!(text << in.rdbuf())) {
        throw std::system_error(errno, std::generic_category(), "read " + procPath);
    }
    const auto path = cgroupV2Path(text.str());
    const std::string mount = findCgroup2Mount();
    if (!path || mount.empty()) return std::nullopt;
    return cgroupIdOf(mount + *path);
}

// Said loudly where the agent's events go that another process can write: each file
// sink gets the line appended (never rotated: that is the agent's), stdout sinks get
// it on stdout.
void writeEvent(const Config& config, const nlohmann::json& event, std::ostream& err) {
    const std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (const SinkConfig& sink : config.events.sinks) {
        if (sink.type == SinkConfig::Type::Stdout) {
            std::cout << line << std::endl;
            continue;
        }
        std::ofstream out(sink.path, std::ios::app);
        if (!(out << line << "\n" << std::flush)) {
            err << "palisade oci-hook: cannot write the event to " << sink.path << "\n";
        }
    }
}

// The container's policy could not be confirmed in force: ociHook.onTimeout says
// what happens to its start.
int unconfirmed(const Config& config, const OciState& state, std::optional<uint64_t> cgroupId,
                const std::string& why, std::ostream& err) {
    const std::string what = "palisade oci-hook: container " + state.id +
                             ": its policy cannot be confirmed in force (" + why + ")";
    if (config.ociHook.onTimeout == Config::OciHook::OnTimeout::Fail) {
        err << what << ": refusing to start it (ociHook.onTimeout: fail)\n";
        return 2;
    }
    err << what
        << ": starting it anyway, unenforced until the agent notices it (ociHook.onTimeout: "
           "allow)\n";
    nlohmann::json fields{{"error", why}, {"timeoutMs", config.ociHook.timeout.count()}};
    if (cgroupId) fields["cgroupId"] = *cgroupId;
    nlohmann::json event = agentEvent("oci-hook-timeout", Clock(), fields);
    event["container"] = {{"id", state.id}};
    writeEvent(config, event, err);
    return 0;
}

}  // namespace

std::variant<OciState, std::string> parseOciState(const std::string& text) {
    const auto state = nlohmann::json::parse(text, nullptr, false);
    if (!state.is_object()) return std::string("not a JSON object");
    OciState out;
    const auto id = state.find("id");
    if (id == state.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
        return std::string("\"id\" must be a non-empty string");
    }
    if (id->get_ref<const std::string&>().size() > kMaxContainerIdBytes) {
        return "\"id\" is longer than " + std::to_string(kMaxContainerIdBytes) + " bytes";
    }
    out.id = id->get<std::string>();
    const auto pid = state.find("pid");
    // pid_t is 32 bits; the kernel's pid_max is at most 2^22.
    if (pid == state.end() || !pid->is_number_unsigned() || pid->get<uint64_t>() == 0 ||
        pid->get<uint64_t>() > INT32_MAX) {
        return std::string(
            "\"pid\" must be a positive process id (is the hook in the createRuntime stage?)");
    }
    out.pid = static_cast<pid_t>(pid->get<uint64_t>());
    return out;
}

std::optional<std::string> cgroupV2Path(const std::string& procCgroupText) {
    std::istringstream in(procCgroupText);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("0::/")) return line.substr(3);
    }
    return std::nullopt;
}

int runOciHook(const Config& config, std::istream& in, std::ostream& err) {
    const Deadline deadline = std::chrono::steady_clock::now() + config.ociHook.timeout;
    std::string text(kMaxOciStateBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxOciStateBytes) {
        err << "palisade oci-hook: the container state on stdin is over " << kMaxOciStateBytes
            << " bytes\n";
        return 1;
    }
    const auto parsed = parseOciState(text);
    if (const auto* why = std::get_if<std::string>(&parsed)) {
        err << "palisade oci-hook: the container state on stdin is not valid: " << *why << "\n";
        return 1;
    }
    const auto& state = std::get<OciState>(parsed);
    std::optional<uint64_t> cgroupId;
    nlohmann::json reply;
    try {
        cgroupId = containerCgroupId(state.pid);
        // In no cgroup v2 directory: no palisade program sees it, so it is not ours.
        if (!cgroupId) return 0;
        const nlohmann::json request{
            {"cmd", "await-container"}, {"cgroupId", *cgroupId}, {"id", state.id}};
        // An agent restarting has no socket for a moment: asked again until the deadline.
        for (;;) {
            try {
                reply = controlRequest(config.controlSocket, request, deadline);
                break;
            } catch (const ControlUnreachable&) {
                if (std::chrono::steady_clock::now() + kRetryEvery >= deadline) throw;
                std::this_thread::sleep_for(kRetryEvery);
            }
        }
    } catch (const std::exception& e) {
        return unconfirmed(config, state, cgroupId, e.what(), err);
    }
    const std::string status = reply.is_object() ? reply.value("status", "") : "";
    if (status == "enforced" || status == "not-a-container") return 0;
    return unconfirmed(config, state, cgroupId, "unexpected reply " + reply.dump(), err);
}

}  // namespace palisade
