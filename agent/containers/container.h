// What the agent knows of one container, and how policies select it
// (docs/reference/policy-language.md, docs/reference/state-and-lifecycle.md#containers).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "containers/ip_address.h"
#include "policy/policy.h"

namespace palisade {

struct Container {
    std::string id;       // 64 hex characters
    std::string runtime;  // docker | containerd | cri-o | podman
    std::string name;     // docker or podman name, or Kubernetes container name; may be empty
    std::string k8sNamespace;
    std::string pod;
    // Docker's labels, or a Kubernetes container's pod labels from the API server.
    std::map<std::string, std::string> labels;
    // From the API server (agent/kubernetes/): the pod's uid, and the labels of its
    // namespace, which are unknown (nullopt) until the namespace has been seen.
    std::string podUid;
    std::optional<std::map<std::string, std::string>> namespaceLabels;
    std::string cgroupPath;  // absolute path of the container's cgroup directory
    uint64_t cgroupId = 0;   // inode number of that directory (the kernel's cgroup id)
    // The addresses the runtime gave the container and keeps on record, sorted: docker's
    // config.v2.json (NetworkSettings.Networks), or for a Kubernetes pod's containers the
    // pod's status.podIPs (agent/kubernetes/). No process in the container can change
    // them, so they decide who owns an address (resolveAddressOwners). Empty for other
    // containers and until the runtime or the kubelet has written them.
    std::vector<IpAddress> recordedAddresses;
    // Why the runtime's metadata could not be read ("<file>: <reason>"); empty when it
    // was. Such a container has no name, labels or Kubernetes identity to be selected by.
    std::string metadataError;

    bool operator==(const Container&) const = default;
};

// Whether a and b are the same container with the same identity, so that policies select
// them alike: all of Container but recordedAddresses, which only the address maps use.
bool sameIdentity(const Container& a, const Container& b);

// The runtime and id a cgroup path (relative to the cgroup root) names, by the
// path forms of docs/reference/state-and-lifecycle.md#containers; std::nullopt when it is not a
// container's cgroup (conmon scopes, pod slices, system services...).
struct CgroupIdentity {
    std::string runtime;
    std::string id;
};
std::optional<CgroupIdentity> parseContainerCgroup(const std::string& relativePath);

// Where runtime metadata lives (Config::Runtimes, copied so this module does not
// depend on config).
struct RuntimeRoots {
    std::string dockerRoot;
    std::string containerdState;
    std::string crioStorage;
    std::string podmanRoot;
};

// Fills name, labels and Kubernetes identity from the runtime's on-disk state. Never
// throws: metadata that is missing, unreadable, over 4 MiB or not the JSON expected (and
// a podman database that is corrupt or does not list the container) leaves the fields
// empty and says why in metadataError.
void readContainerMetadata(Container& c, const RuntimeRoots& roots);
// The same, for a container read before: what the earlier read gave is dropped first.
void rereadContainerMetadata(Container& c, const RuntimeRoots& roots);

// The deepest container cgroup of docs/reference/state-and-lifecycle.md#containers is five levels
// down (podman under a user slice); the bound leaves room for --cgroup-root/--cgroup-parent
// prefixes while keeping a pathological tree from costing an unbounded walk.
constexpr int kMaxCgroupDepth = 12;

// Walks the cgroup tree below `cgroupRoot` (bounded depth) and returns every
// container cgroup found, with metadata. Nested cgroups inside a container's
// cgroup are not containers of their own. Containers already in `known` (same
// cgroup id) keep the metadata they have instead of having it read again.
// Throws std::system_error when the tree cannot be read whole (a directory
// that vanished while it was walked is not an error).
std::vector<Container> scanContainers(const std::string& cgroupRoot, const RuntimeRoots& roots,
                                      const std::vector<Container>& known = {});

// The kernel's cgroup id for a cgroup directory (its inode number on cgroup2).
uint64_t cgroupIdOf(const std::string& path);

// The cgroup2 mount point from a mountinfo file (default /proc/self/mountinfo);
// empty when there is none.
std::string findCgroup2Mount(const std::string& mountinfoPath = "/proc/self/mountinfo");

// Every given field of the selector matches (fnmatch globs; `id` is a prefix glob).
bool selectorMatches(const Selector& s, const Container& c);
// Kubernetes' label selector semantics: every matchLabels entry and expression holds.
bool labelSelectorMatches(const LabelSelector& s, const std::map<std::string, std::string>& labels);

}  // namespace palisade
