#include "kubernetes/api_objects.h"

#include <algorithm>
#include <string_view>

namespace palisade {

namespace {

// Kubernetes objects nest a dozen levels; copying or printing a parsed value recurses
// once per level, so a line nested 100,000 deep from a broken or hostile server would
// end the agent on stack overflow. Brackets inside strings do not count.
constexpr int kMaxJsonDepth = 64;

bool nestedTooDeep(std::string_view text) {
    int depth = 0;
    bool inString = false;
    for (size_t i = 0; i < text.size(); i++) {
        const char c = text[i];
        if (inString) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxJsonDepth) return true;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return false;
}

using nlohmann::json;

const json& member(const json& object, const char* key) {
    static const json null;
    if (!object.is_object()) return null;
    auto it = object.find(key);
    return it == object.end() ? null : *it;
}

std::string stringMember(const json& object, const char* key) {
    const json& value = member(object, key);
    return value.is_string() ? value.get<std::string>() : std::string{};
}

// metadata.labels: a map of strings, or absent (an object without labels).
bool readLabels(const json& metadata, Labels& out, std::string& error) {
    const json& labels = member(metadata, "labels");
    if (labels.is_null()) return true;
    if (!labels.is_object()) {
        error = "metadata.labels is not an object";
        return false;
    }
    for (const auto& [key, value] : labels.items()) {
        if (!value.is_string()) {
            error = "metadata.labels." + key + " is not a string";
            return false;
        }
        out[key] = value.get<std::string>();
    }
    return true;
}

// "containerd://<id>", "cri-o://<id>": the id; the scheme names the runtime.
void addContainerIds(const json& statuses, std::vector<std::string>& out) {
    if (!statuses.is_array()) return;
    for (const json& status : statuses) {
        const std::string id = stringMember(status, "containerID");
        const size_t scheme = id.find("://");
        if (scheme != std::string::npos && scheme + 3 < id.size())
            out.push_back(id.substr(scheme + 3));
    }
}

}  // namespace

std::optional<PodInfo> parsePod(const json& pod, std::string& error) {
    const json& metadata = member(pod, "metadata");
    PodInfo info;
    info.uid = stringMember(metadata, "uid");
    info.name = stringMember(metadata, "name");
    info.k8sNamespace = stringMember(metadata, "namespace");
    if (info.uid.empty() || info.name.empty() || info.k8sNamespace.empty()) {
        error = "a pod without metadata.uid, name or namespace";
        return std::nullopt;
    }
    if (!readLabels(metadata, info.labels, error)) {
        error = "pod " + info.k8sNamespace + "/" + info.name + ": " + error;
        return std::nullopt;
    }
    const json& status = member(pod, "status");
    for (const char* key :
         {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
        addContainerIds(member(status, key), info.containerIds);
    }
    if (member(member(pod, "spec"), "hostNetwork") != true) {
        std::vector<std::string> ips{stringMember(status, "podIP")};
        const json& podIps = member(status, "podIPs");
        for (const json& ip : podIps.is_array() ? podIps : json::array()) {
            ips.push_back(stringMember(ip, "ip"));
        }
        info.addresses = parseIpAddresses(ips);
    }
    return info;
}

std::optional<NamespaceInfo> parseNamespace(const json& ns, std::string& error) {
    const json& metadata = member(ns, "metadata");
    NamespaceInfo info;
    info.name = stringMember(metadata, "name");
    if (info.name.empty()) {
        error = "a namespace without metadata.name";
        return std::nullopt;
    }
    if (!readLabels(metadata, info.labels, error)) {
        error = "namespace " + info.name + ": " + error;
        return std::nullopt;
    }
    return info;
}

std::optional<ObjectList> parseList(const std::string& text, std::string& error) {
    if (nestedTooDeep(text)) {
        error = "the list is nested deeper than 64 levels";
        return std::nullopt;
    }
    const json list = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (list.is_discarded()) {
        error = "the list is not JSON";
        return std::nullopt;
    }
    ObjectList out;
    out.resourceVersion = stringMember(member(list, "metadata"), "resourceVersion");
    const json& items = member(list, "items");
    if (out.resourceVersion.empty() || !(items.is_array() || items.is_null())) {
        error = "not a list (no metadata.resourceVersion or items)";
        return std::nullopt;
    }
    if (items.is_array()) out.items.assign(items.begin(), items.end());
    return out;
}

std::optional<WatchEvent> parseWatchEvent(const std::string& line, std::string& error) {
    if (nestedTooDeep(line)) {
        error = "a watch event nested deeper than 64 levels";
        return std::nullopt;
    }
    json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) {
        error = "a watch event that is not JSON";
        return std::nullopt;
    }
    WatchEvent out{stringMember(event, "type"), member(event, "object")};
    static const char* const kTypes[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    if (std::ranges::find(kTypes, out.type) == std::end(kTypes) || !out.object.is_object()) {
        error = "not a watch event (type \"" + out.type + "\")";
        return std::nullopt;
    }
    return out;
}

std::optional<ApiStatus> parseStatus(const json& status) {
    if (stringMember(status, "kind") != "Status") return std::nullopt;
    ApiStatus out;
    const json& code = member(status, "code");
    if (code.is_number_integer()) out.code = code.get<int>();
    out.reason = stringMember(status, "reason");
    out.message = stringMember(status, "message");
    return out;
}

std::string resourceVersionOf(const json& object) {
    return stringMember(member(object, "metadata"), "resourceVersion");
}

}  // namespace palisade
