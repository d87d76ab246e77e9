// Recognises container cgroups by the path forms of
// docs/reference/state-and-lifecycle.md#containers.
#include <algorithm>
#include <string_view>

#include "containers/container.h"

namespace palisade {

namespace {

using Components = std::vector<std::string_view>;

Components splitPath(std::string_view path) {
    Components parts;
    size_t start = 0;
    while (start <= path.size()) {
        size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        // Empty components come from a leading, trailing or doubled '/'.
        if (slash > start) parts.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

// Exactly 64 lowercase hex characters: what every runtime uses as a container id.
// Uppercase is rejected because no runtime produces it, so such a name is not ours.
bool isContainerId(std::string_view text) {
    auto isLowerHex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    return text.size() == 64 && std::ranges::all_of(text, isLowerHex);
}

// The id of a "<prefix><id><suffix>" component, or empty when it has not that shape.
// Conmon scopes ("crio-conmon-<id>.scope", "libpod-conmon-<id>.scope") fall out here:
// "conmon-<id>" is not an id.
std::string_view idBetween(std::string_view component, std::string_view prefix,
                           std::string_view suffix) {
    if (!component.starts_with(prefix) || !component.ends_with(suffix)) return {};
    if (component.size() < prefix.size() + suffix.size()) return {};
    std::string_view id =
        component.substr(prefix.size(), component.size() - prefix.size() - suffix.size());
    return isContainerId(id) ? id : std::string_view{};
}

// A systemd-driver scope: the runtime names the unit itself, so it is recognised
// wherever it sits (system.slice, kubepods slices, machine.slice, user slices).
std::optional<CgroupIdentity> fromScope(std::string_view leaf) {
    struct ScopeForm {
        std::string_view prefix;
        std::string_view suffix;
        const char* runtime;
    };
    // cri-o's and podman's cgroupfs managers use the same names without ".scope".
    static constexpr ScopeForm forms[] = {
        {"docker-", ".scope", "docker"}, {"cri-containerd-", ".scope", "containerd"},
        {"crio-", ".scope", "cri-o"},    {"crio-", "", "cri-o"},
        {"libpod-", ".scope", "podman"}, {"libpod-", "", "podman"},
    };
    for (const ScopeForm& form : forms) {
        std::string_view id = idBetween(leaf, form.prefix, form.suffix);
        if (!id.empty()) return CgroupIdentity{form.runtime, std::string(id)};
    }
    return std::nullopt;
}

bool isPodComponent(std::string_view component) {
    return component.size() > 3 && component.starts_with("pod");
}

// kubelet's cgroupfs driver: "kubepods/<qos>/pod<uid>/<id>" and, for guaranteed
// pods, "kubepods/pod<uid>/<id>". kubepods itself may sit below a --cgroup-root.
bool isKubepodsCgroupfs(const Components& parts, size_t leaf) {
    if (leaf < 2 || !isPodComponent(parts[leaf - 1])) return false;
    if (parts[leaf - 2] == "kubepods") return true;
    bool qos = parts[leaf - 2] == "besteffort" || parts[leaf - 2] == "burstable";
    return qos && leaf >= 3 && parts[leaf - 3] == "kubepods";
}

// The container a cgroupfs-driver directory named by the bare id belongs to.
std::optional<CgroupIdentity> fromBareId(const Components& parts, size_t leaf) {
    if (!isContainerId(parts[leaf])) return std::nullopt;
    if (leaf >= 1 && parts[leaf - 1] == "docker") {
        return CgroupIdentity{"docker", std::string(parts[leaf])};
    }
    if (isKubepodsCgroupfs(parts, leaf)) {
        return CgroupIdentity{"containerd", std::string(parts[leaf])};
    }
    return std::nullopt;
}

// Whether parts[0..leaf] is itself a container's cgroup, ignoring its ancestors.
std::optional<CgroupIdentity> identifyAt(const Components& parts, size_t leaf) {
    if (auto scope = fromScope(parts[leaf])) return scope;
    return fromBareId(parts, leaf);
}

}  // namespace

std::optional<CgroupIdentity> parseContainerCgroup(const std::string& relativePath) {
    const Components parts = splitPath(relativePath);
    if (parts.empty()) return std::nullopt;
    // A cgroup below a container's cgroup (a nested container runtime, systemd in a
    // container) is part of that container, not a container of its own.
    for (size_t ancestor = 0; ancestor + 1 < parts.size(); ++ancestor) {
        if (identifyAt(parts, ancestor)) return std::nullopt;
    }
    return identifyAt(parts, parts.size() - 1);
}

}  // namespace palisade
