// The pods of this node and the cluster's namespaces as the API server last
// said, and how a container found in the cgroup tree is joined to its pod
// (docs/runtimes/kubernetes.md#the-join).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "containers/container.h"
#include "kubernetes/api_objects.h"

namespace palisade {

struct KubernetesSnapshot {
    std::map<std::string, PodInfo> pods;       // by uid
    std::map<std::string, Labels> namespaces;  // by name
};

// Written by the list/watch threads, read by the agent's loop.
class PodCache {
  public:
    // ListWatch handlers (agent/kubernetes/list_watch.h) of pods and namespaces.
    std::string replacePods(const std::vector<nlohmann::json>& items);
    std::string applyPod(const std::string& type, const nlohmann::json& object);
    std::string replaceNamespaces(const std::vector<nlohmann::json>& items);
    std::string applyNamespace(const std::string& type, const nlohmann::json& object);

    // Raised by every change; the snapshot goes with the version it had.
    uint64_t version() const { return version_.load(); }
    std::shared_ptr<const KubernetesSnapshot> snapshot() const;

  private:
    // Copies the snapshot, lets `change` edit the copy, publishes it.
    template <typename Change>
    void update(Change&& change);

    mutable std::mutex mutex_;
    std::shared_ptr<const KubernetesSnapshot> snapshot_ = std::make_shared<KubernetesSnapshot>();
    std::atomic<uint64_t> version_{0};
};

// The pod uid a kubelet cgroup path holds: ".../pod<uid>/<container>" (cgroupfs
// driver) or ".../kubepods-<qos>-pod<uid with '_' for '-'>.slice/<container>"
// (systemd driver); "" when it holds none.
std::string podUidFromCgroupPath(const std::string& cgroupPath);

// Gives each containerd and cri-o container its pod's uid, labels and addresses (as
// recordedAddresses) and its namespace's labels, and takes them from one no longer
// joined. A container is
// joined to the pod whose status lists its id, or else to the pod whose uid its
// cgroup path holds; either way only when the namespace and pod name its CRI
// runtime wrote agree with the pod's. Docker and podman containers are left as
// they are.
void joinPods(std::vector<Container>& containers, const KubernetesSnapshot& snapshot);

}  // namespace palisade
