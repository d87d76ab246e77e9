// Container names, labels and Kubernetes identity from the runtimes' on-disk state
// (docs/reference/state-and-lifecycle.md#containers). A container whose metadata is missing,
// unreadable or malformed is still enforced by id and runtime, so no error escapes: why is kept in
// metadataError, for `palisade containers`, the log and the metrics to say, since such a
// container silently matches no selector of name, labels or Kubernetes identity.
//
// Labels come from docker (Config.Labels) and podman (its database's "labels"). OCI
// bundles carry annotations, not labels: containerd and cri-o do not copy the pod's
// labels into them, so there is nothing faithful to expose.
//
// Kubernetes identity (namespace, pod, container name) comes only from what a CRI
// implementation wrote: the annotations of containerd's k8s.io bundles and of cri-o's.
// Docker and podman labels and podman annotations are whatever their users gave (`docker
// run --label io.kubernetes.pod.namespace=kube-system`, the same with podman), so they
// never make a container a pod's.
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "containers/container.h"
#include "containers/podman_db.h"
#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Runtime state files are small; anything bigger is not what we expect to read and
// is not worth the memory.
constexpr std::uintmax_t kMaxMetadataBytes = 4 * 1024 * 1024;

std::runtime_error unreadable(const fs::path& path, const std::string& why) {
    return std::runtime_error(path.string() + ": " + why);
}

// `text` parsed, when it is a JSON object; otherwise throws std::runtime_error naming
// `path`, where it was read, and why.
json parseJsonObject(const fs::path& path, const std::string& text) {
    json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) throw unreadable(path, "not JSON");
    if (!parsed.is_object()) throw unreadable(path, "not a JSON object");
    return parsed;
}

// The file parsed, when it is a JSON object; otherwise throws as parseJsonObject.
json readJsonObject(const fs::path& path) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) throw unreadable(path, ec.message());
    if (size > kMaxMetadataBytes) throw unreadable(path, "over 4 MiB");
    FilePtr file(std::fopen(path.c_str(), "rb"));
    if (!file) throw unreadable(path, errnoText(errno));
    // A file that changed size since it was measured fails to parse below, and is read
    // again at the next rescan.
    std::string text(size, '\0');
    text.resize(std::fread(text.data(), 1, text.size(), file.get()));
    if (std::ferror(file.get())) throw unreadable(path, errnoText(errno));
    return parseJsonObject(path, text);
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

// obj[key] when obj is an object and the value an array; an empty array otherwise.
const json& arrayAt(const json& obj, const char* key) {
    static const json empty = json::array();
    if (!obj.is_object()) return empty;
    auto it = obj.find(key);
    return it != obj.end() && it->is_array() ? *it : empty;
}

// "198.18.61.4" of "198.18.61.4/24", the form CNI and netavark give addresses in.
std::string addressOf(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

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

// The string values of a labels object; values of another type are left out.
void copyLabels(Container& c, const json& labels) {
    for (const auto& [key, value] : labels.items()) {
        if (value.is_string()) c.labels[key] = value.get<std::string>();
    }
}

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
        readJsonObject(fs::path(roots.dockerRoot) / "containers" / c.id / "config.v2.json");
    c.name = stringAt(config, "Name");
    // Docker stores the name as "/name", the form the legacy links API used.
    if (c.name.starts_with('/')) c.name.erase(0, 1);
    copyLabels(c, objectAt(objectAt(config, "Config"), "Labels"));
    // What docker's IPAM gave it on each network it is attached to.
    std::vector<std::string> given;
    for (const auto& [network, settings] :
         objectAt(objectAt(config, "NetworkSettings"), "Networks").items()) {
        for (const char* key : {"IPAddress", "GlobalIPv6Address"}) {
            given.push_back(stringAt(settings, key));
        }
    }
    c.recordedAddresses = parseIpAddresses(given);
}

// The OCI bundle of a containerd task: state/io.containerd.runtime.v2.task/<ns>/<id>, in
// the k8s.io namespace only, where containerd's CRI plugin keeps every container it
// creates. Tasks elsewhere (docker's moby, nerdctl's default) carry whatever annotations
// their users gave (`docker run --annotation`); one in k8s.io can only be made through
// containerd's socket, which is root on the node.
void readContainerdBundle(Container& c, const RuntimeRoots& roots) {
    const fs::path bundle =
        fs::path(roots.containerdState) / "io.containerd.runtime.v2.task" / "k8s.io" / c.id;
    const json config = readJsonObject(bundle / "config.json");
    applyKubernetesKeys(c, objectAt(config, "annotations"), kContainerdCri);
}

void readCrioBundle(Container& c, const RuntimeRoots& roots) {
    const json config = readJsonObject(fs::path(roots.crioStorage) / "overlay-containers" / c.id /
                                       "userdata" / "config.json");
    applyKubernetesKeys(c, objectAt(config, "annotations"), kCrio);
}

// Podman's database (podman_db.h): libpod's ContainerConfig, with the name and the
// labels the container was created with, and its ContainerState, with its addresses. As
// docker's, its io.kubernetes.* labels are ordinary labels, and neither its annotations
// nor its bundle's are read: `podman run --label` and `--annotation` (and `podman kube
// play`) write whatever their user gives.
void readPodman(Container& c, const RuntimeRoots& roots) {
    const PodmanRecord record = readPodmanRecord(roots.podmanRoot, c.id);
    const json config = parseJsonObject(record.database, record.config);
    c.name = stringAt(config, "name");
    copyLabels(c, objectAt(config, "labels"));
    if (record.state.empty()) return;
    // What podman's network backend gave it, in its ContainerState: networkStatus
    // (podman 4 and later: network -> interfaces -> name -> subnets[].ipnet), or the CNI
    // results of podman 3 (networkResults[].ips[].address).
    const json state = parseJsonObject(record.database, record.state);
    std::vector<std::string> given;
    for (const auto& [network, status] : objectAt(state, "networkStatus").items()) {
        for (const auto& [name, interface] : objectAt(status, "interfaces").items()) {
            for (const json& subnet : arrayAt(interface, "subnets")) {
                given.push_back(addressOf(stringAt(subnet, "ipnet")));
            }
        }
    }
    for (const json& result : arrayAt(state, "networkResults")) {
        for (const json& ip : arrayAt(result, "ips")) {
            given.push_back(addressOf(stringAt(ip, "address")));
        }
    }
    c.recordedAddresses = parseIpAddresses(given);
}

}  // namespace

void readContainerMetadata(Container& c, const RuntimeRoots& roots) {
    // Besides what the readers throw, nlohmann can (e.g. std::bad_alloc); metadata is
    // never worth failing a scan for.
    try {
        if (c.runtime == "docker") {
            readDocker(c, roots);
        } else if (c.runtime == "containerd") {
            readContainerdBundle(c, roots);
        } else if (c.runtime == "cri-o") {
            readCrioBundle(c, roots);
        } else if (c.runtime == "podman") {
            readPodman(c, roots);
        }
    } catch (const std::exception& e) {
        // Whatever was read stays; the container is still enforced by id and runtime.
        c.metadataError = e.what();
    }
}

void rereadContainerMetadata(Container& c, const RuntimeRoots& roots) {
    Container fresh;
    fresh.id = c.id;
    fresh.runtime = c.runtime;
    fresh.cgroupPath = c.cgroupPath;
    fresh.cgroupId = c.cgroupId;
    readContainerMetadata(fresh, roots);
    c = std::move(fresh);
}

}  // namespace palisade
