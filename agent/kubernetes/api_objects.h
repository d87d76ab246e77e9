// The few fields the agent reads of the Kubernetes API's objects (Pod,
// Namespace, their lists, WatchEvent, Status), as the API reference documents
// them. Anything not of the documented shape is an error, never an exception
// that escapes and never a guess.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "containers/ip_address.h"

namespace palisade {

using Labels = std::map<std::string, std::string>;

struct PodInfo {
    std::string uid;
    std::string name;
    std::string k8sNamespace;
    Labels labels;
    // status.containerStatuses[].containerID (and initContainerStatuses',
    // ephemeralContainerStatuses'), without their "<runtime>://" scheme.
    std::vector<std::string> containerIds;
    // status.podIPs[].ip and status.podIP, which the kubelet writes, sorted; none for a
    // pod on the host network (spec.hostNetwork), whose addresses are the node's.
    std::vector<IpAddress> addresses;
    bool operator==(const PodInfo&) const = default;
};

struct NamespaceInfo {
    std::string name;
    Labels labels;
};

// A v1 PodList or NamespaceList: metadata.resourceVersion and the items.
struct ObjectList {
    std::string resourceVersion;
    std::vector<nlohmann::json> items;
};

// A WatchEvent: {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}.
struct WatchEvent {
    std::string type;
    nlohmann::json object;
};

// A meta/v1 Status (a failed request's body, an ERROR event's object).
struct ApiStatus {
    int code = 0;
    std::string reason;
    std::string message;
};

// Each returns nullopt and sets `error` when the value is not of the shape.
std::optional<PodInfo> parsePod(const nlohmann::json& pod, std::string& error);
std::optional<NamespaceInfo> parseNamespace(const nlohmann::json& ns, std::string& error);
std::optional<ObjectList> parseList(const std::string& text, std::string& error);
std::optional<WatchEvent> parseWatchEvent(const std::string& line, std::string& error);
std::optional<ApiStatus> parseStatus(const nlohmann::json& status);
// metadata.resourceVersion of an object, "" when absent.
std::string resourceVersionOf(const nlohmann::json& object);

}  // namespace palisade
