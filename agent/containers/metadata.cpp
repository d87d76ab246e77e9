// Container names, labels and Kubernetes identity from the runtimes' on-disk state
// (docs/reference/state-and-lifecycle.md#containers). Everything here is best effort: a container
// whose metadata is missing, unreadable or malformed is still enforced by id and runtime, so no
// error escapes.
//
// Labels come only from docker (Config.Labels). OCI bundles carry annotations, not
// labels: containerd and cri-o do not copy the pod's labels into them, and podman
// keeps its labels in its own database, so there is nothing faithful to expose.
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

void setIfEmpty(std::string& field, const std::string& value) {
    if (field.empty()) field = value;
}

// Kubernetes identity from a string map: OCI annotations, or docker labels (which
// dockershim filled with the io.kubernetes.* keys). containerd's CRI plugin uses the
// io.kubernetes.cri.* keys, cri-o and dockershim the io.kubernetes.{pod,container}.*
// ones; whichever is present first wins.
void applyKubernetesKeys(Container& c, const json& map) {
    setIfEmpty(c.name, stringAt(map, "io.kubernetes.cri.container-name"));
    setIfEmpty(c.name, stringAt(map, "io.kubernetes.container.name"));
    setIfEmpty(c.k8sNamespace, stringAt(map, "io.kubernetes.cri.sandbox-namespace"));
    setIfEmpty(c.k8sNamespace, stringAt(map, "io.kubernetes.pod.namespace"));
    setIfEmpty(c.pod, stringAt(map, "io.kubernetes.cri.sandbox-name"));
    setIfEmpty(c.pod, stringAt(map, "io.kubernetes.pod.name"));
}

void readDocker(Container& c, const RuntimeRoots& roots) {
    const json config =
        readJsonFile(fs::path(roots.dockerRoot) / "containers" / c.id / "config.v2.json");
    std::string name = stringAt(config, "Name");
    // Docker stores the name as "/name", the form the legacy links API used.
    if (name.starts_with('/')) name.erase(0, 1);
    const json& labels = objectAt(objectAt(config, "Config"), "Labels");
    // The Kubernetes container name is what selectors of pods mean by `name`, so it
    // takes precedence over docker's generated "k8s_..." name.
    applyKubernetesKeys(c, labels);
    setIfEmpty(c.name, name);
    for (const auto& [key, value] : labels.items()) {
        if (value.is_string()) c.labels[key] = value.get<std::string>();
    }
}

// The OCI bundle of a containerd task: state/io.containerd.runtime.v2.task/<ns>/<id>.
// The namespace (k8s.io, moby, default...) is not known from the cgroup, so every one
// is tried.
void readContainerdBundle(Container& c, const RuntimeRoots& roots) {
    const fs::path tasks = fs::path(roots.containerdState) / "io.containerd.runtime.v2.task";
    std::error_code ec;
    for (fs::directory_iterator it(tasks, ec), end; !ec && it != end; it.increment(ec)) {
        const json config = readJsonFile(it->path() / c.id / "config.json");
        if (config.is_object()) {
            applyKubernetesKeys(c, objectAt(config, "annotations"));
            return;
        }
    }
}

void readCrioBundle(Container& c, const RuntimeRoots& roots) {
    const json config = readJsonFile(fs::path(roots.crioStorage) / "overlay-containers" / c.id /
                                     "userdata" / "config.json");
    applyKubernetesKeys(c, objectAt(config, "annotations"));
}

// containers/storage's index: [{"id": "...", "names": ["name", ...], ...}, ...].
// Podman's name is the first of "names"; its bundle carries no name.
void readPodmanName(Container& c, const RuntimeRoots& roots) {
    const json index =
        readJsonFile(fs::path(roots.crioStorage) / "overlay-containers" / "containers.json");
    if (!index.is_array()) return;
    for (const json& entry : index) {
        if (stringAt(entry, "id") != c.id) continue;
        auto names = entry.find("names");  // end() when entry is not an object
        if (names != entry.end() && names->is_array() && !names->empty() &&
            names->front().is_string()) {
            setIfEmpty(c.name, names->front().get<std::string>());
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
            // Podman under `podman kube play` annotates its bundle like cri-o does.
            readCrioBundle(c, roots);
            readPodmanName(c, roots);
        }
    } catch (const std::exception&) {
        // Leave whatever was read; the container is still enforced by id and runtime.
    }
}

}  // namespace palisade
