#include "kubernetes/pod_cache.h"

#include <algorithm>

namespace palisade {

namespace {

bool isUid(std::string_view text) {
    return text.size() == 36 && std::ranges::all_of(text, [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
           });
}

// Parses each item with `parse`; those it takes go to `take`. Returns why the
// last one it did not take was left out ("" when none was).
template <typename Parse, typename Take>
std::string parseEach(const std::vector<nlohmann::json>& items, Parse parse, Take take) {
    std::string problem;
    for (const auto& item : items) {
        std::string error;
        if (auto parsed = parse(item, error)) {
            take(std::move(*parsed));
        } else {
            problem = error;  // left out; the others still count
        }
    }
    return problem;
}

// What a watch event does to one map of the snapshot.
template <typename Value>
void putOrErase(std::map<std::string, Value>& map, const std::string& type, const std::string& key,
                Value value) {
    if (type == "DELETED") {
        map.erase(key);
    } else {
        map[key] = std::move(value);
    }
}

}  // namespace

template <typename Change>
void PodCache::update(Change&& change) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<KubernetesSnapshot>(*snapshot_);
    change(*next);
    snapshot_ = std::move(next);
    version_.fetch_add(1);
}

std::shared_ptr<const KubernetesSnapshot> PodCache::snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
}

std::string PodCache::replacePods(const std::vector<nlohmann::json>& items) {
    std::map<std::string, PodInfo> pods;
    const std::string problem =
        parseEach(items, parsePod, [&](PodInfo pod) { pods[pod.uid] = std::move(pod); });
    update([&](KubernetesSnapshot& s) { s.pods = std::move(pods); });
    return problem;
}

std::string PodCache::applyPod(const std::string& type, const nlohmann::json& object) {
    std::string error;
    if (auto pod = parsePod(object, error)) {
        const std::string uid = pod->uid;
        update([&](KubernetesSnapshot& s) { putOrErase(s.pods, type, uid, std::move(*pod)); });
    }
    return error;
}

std::string PodCache::replaceNamespaces(const std::vector<nlohmann::json>& items) {
    std::map<std::string, Labels> namespaces;
    const std::string problem = parseEach(items, parseNamespace, [&](NamespaceInfo ns) {
        namespaces[ns.name] = std::move(ns.labels);
    });
    update([&](KubernetesSnapshot& s) { s.namespaces = std::move(namespaces); });
    return problem;
}

std::string PodCache::applyNamespace(const std::string& type, const nlohmann::json& object) {
    std::string error;
    if (auto ns = parseNamespace(object, error)) {
        update([&](KubernetesSnapshot& s) {
            putOrErase(s.namespaces, type, ns->name, std::move(ns->labels));
        });
    }
    return error;
}

std::string podUidFromCgroupPath(const std::string& cgroupPath) {
    // The pod's cgroup is the container's parent.
    const size_t leaf = cgroupPath.find_last_of('/');
    if (leaf == std::string::npos || leaf == 0) return "";
    const size_t start = cgroupPath.find_last_of('/', leaf - 1) + 1;
    std::string_view parent = std::string_view(cgroupPath).substr(start, leaf - start);
    if (parent.starts_with("pod") && isUid(parent.substr(3))) return std::string(parent.substr(3));
    const size_t pod = parent.rfind("-pod");
    if (parent.starts_with("kubepods") && parent.ends_with(".slice") && pod != std::string::npos) {
        std::string uid(parent.substr(pod + 4, parent.size() - pod - 4 - 6));
        std::ranges::replace(uid, '_', '-');
        if (isUid(uid)) return uid;
    }
    return "";
}

void joinPods(std::vector<Container>& containers, const KubernetesSnapshot& snapshot) {
    std::map<std::string, const PodInfo*> byContainerId;
    for (const auto& [uid, pod] : snapshot.pods) {
        for (const auto& id : pod.containerIds) byContainerId[id] = &pod;
    }
    for (Container& c : containers) {
        if (c.runtime != "containerd" && c.runtime != "cri-o") continue;
        c.labels.clear();
        c.podUid.clear();
        c.namespaceLabels.reset();
        c.recordedAddresses.clear();
        // Without the CRI runtime's own word for namespace and pod, the cgroup
        // path alone could be anyone's (docs/runtimes/kubernetes.md#the-join).
        if (!c.metadataError.empty() || c.k8sNamespace.empty() || c.pod.empty()) continue;
        const PodInfo* pod = nullptr;
        if (auto byId = byContainerId.find(c.id); byId != byContainerId.end()) {
            pod = byId->second;
        } else if (auto byUid = snapshot.pods.find(podUidFromCgroupPath(c.cgroupPath));
                   byUid != snapshot.pods.end()) {
            pod = &byUid->second;
        }
        if (!pod || pod->k8sNamespace != c.k8sNamespace || pod->name != c.pod) continue;
        c.labels = pod->labels;
        c.podUid = pod->uid;
        c.recordedAddresses = pod->addresses;
        if (auto ns = snapshot.namespaces.find(c.k8sNamespace); ns != snapshot.namespaces.end()) {
            c.namespaceLabels = ns->second;
        }
    }
}

}  // namespace palisade
