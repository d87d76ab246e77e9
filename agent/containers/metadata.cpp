// Container names, labels and Kubernetes identity from the runtimes' on-disk state
// (docs/reference/state-and-lifecycle.md#containers). Everything here is best effort: a container
// whose metadata is missing, unreadable or malformed is still enforced by id and runtime, so no
// error escapes.
//
// Labels come only from docker (Config.Labels). OCI bundles carry annotations, not
// labels: containerd and cri-o do not copy the pod's labels into them, and podman
// keeps its labels in its own database, so there is nothing faithful to expose.
//
// Kubernetes identity (namespace, pod, container name) comes only from what a CRI
// implementation wrote: the annotations of containerd's k8s.io bundles and of cri-o's.
// Docker labels and podman annotations are whatever their users gave (`docker run --label
// io.kubernetes.pod.namespace=kube-system`), so they never make a container a pod's.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "containers/container.h"

namespace palisade {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Runtime state files are small; anything bigger is not what we expect to read and
// is not worth the memory.
constexpr std::uintmax_t kMaxMetadataBytes = 4 * 1024 * 1024;

// The parsed file, or a discarded value when it is missing, too big or not JSON.
json readJsonFile(const fs::path& path) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec || size > kMaxMetadataBytes) return json(json::value_t::discarded);
    std::ifstream in(path, std::ios::binary);
    if (!in) return json(json::value_t::discarded);
    std::ostringstream text;
    text << in.rdbuf();
    return json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
}

// obj[key] when obj is an object and the value a string; empty otherwise.
std::string stringAt(const json& obj, const char* key) {
    if (!obj.is_object()) return {};
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// obj[key] when obj is an object and the value an object; null otherwise.
const json& objectAt(const json& obj, const char* key) {
    static const json null;
    if (!obj.is_object()) return null;
    auto it = obj.find(key);
    return it != obj.end() && it->is_object() ? *it : null;
}

// The annotations a CRI implementation writes into every bundle it creates, after any it
// copies from the pod, so that a pod author cannot override them. Each runtime's own keys
// only: the other runtime's could be a pod annotation passed through.
struct KubernetesKeys {
    const char* name;
    const char* k8sNamespace;
    const char* pod;
};
constexpr KubernetesKeys kContainerdCri{"io.kubernetes.cri.container-name",
                                        "io.kubernetes.cri.sandbox-namespace",
                                        "io.kubernetes.cri.sandbox-name"};
// cri-o writes the container labels the kubelet gives it as annotations, last.
constexpr KubernetesKeys kCrio{"io.kubernetes.container.name", "io.kubernetes.pod.namespace",
                               "io.kubernetes.pod.name"};

void applyKubernetesKeys(Container& c, const json& annotations, const KubernetesKeys& keys) {
    c.name = stringAt(annotations, keys.name);
    c.k8sNamespace = stringAt(annotations, keys.k8sNamespace);
    c.pod = stringAt(annotations, keys.pod);
}

// io.kubernetes.* labels are ordinary labels here: without dockershim (gone since
// Kubernetes 1.24) docker runs no pods itself, and cri-dockerd's labels cannot be told
// from the ones anyone allowed to run docker on the node can set.
void readDocker(Container& c, const RuntimeRoots& roots) {
    const json config =
        readJsonFile(fs::path(roots.dockerRoot) / "containers" / c.id / "config.v2.json");
    c.name = stringAt(config, "Name");
    // Docker stores the name as "/name", the form the legacy links API used.
    if (c.name.starts_with('/')) c.name.erase(0, 1);
    for (const auto& [key, value] : objectAt(objectAt(config, "Config"), "Labels").items()) {
        if (value.is_string()) c.labels[key] = value.get<std::string>();
    }
}

// The OCI bundle of a containerd task: state/io.containerd.runtime.v2.task/<ns>/<id>, in
// the k8s.io namespace only, where containerd's CRI plugin keeps every container it
// creates. Tasks elsewhere (docker's moby, nerdctl's default) carry whatever annotations
// their users gave (`docker run --annotation`); one in k8s.io can only be made through
// containerd's socket, which is root on the node.
void readContainerdBundle(Container& c, const RuntimeRoots& roots) {
    const json config =
        readJsonFile(fs::path(roots.containerdState) / "io.containerd.runtime.v2.task" / "k8s.io" /
                     c.id / "config.json");
    applyKubernetesKeys(c, objectAt(config, "annotations"), kContainerdCri);
}

void readCrioBundle(Container& c, const RuntimeRoots& roots) {
    const json config = readJsonFile(fs::path(roots.crioStorage) / "overlay-containers" / c.id /
                                     "userdata" / "config.json");
    applyKubernetesKeys(c, objectAt(config, "annotations"), kCrio);
}

// containers/storage's index: [{"id": "...", "names": ["name", ...], ...}, ...].
// Podman's name is the first of "names". Its bundle is not read: `podman run
// --annotation` (and `podman kube play`) write any annotation their user gives.
void readPodmanName(Container& c, const RuntimeRoots& roots) {
    const json index =
        readJsonFile(fs::path(roots.crioStorage) / "overlay-containers" / "containers.json");
    if (!index.is_array()) return;
    for (const json& entry : index) {
        if (stringAt(entry, "id") != c.id) continue;
        auto names = entry.find("names");  // end() when entry is not an object
        if (names != entry.end() && names->is_array() && !names->empty() &&
            names->front().is_string()) {
            c.name = names->front().get<std::string>();
        }
        return;
    }
}

}  // namespace

void readContainerMetadata(Container& c, const RuntimeRoots& roots) {
    // The readers check types before every access, but nlohmann can still throw
    // (e.g. std::bad_alloc, invalid UTF-8 in a key on dump); metadata is never worth
    // failing a scan for.
    try {
        if (c.runtime == "docker") {
            readDocker(c, roots);
        } else if (c.runtime == "containerd") {
            readContainerdBundle(c, roots);
        } else if (c.runtime == "cri-o") {
            readCrioBundle(c, roots);
        } else if (c.runtime == "podman") {
            readPodmanName(c, roots);
        }
    } catch (const std::exception&) {
        // Leave whatever was read; the container is still enforced by id and runtime.
    }
}

}  // namespace palisade
