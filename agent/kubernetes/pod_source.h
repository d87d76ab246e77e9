// What the agent learns from the API server (docs/runtimes/kubernetes.md): the
// pods of its node and the cluster's namespaces, each kept by a ListWatch of
// its own thread, so that neither the datapath nor the control socket ever
// waits for the API server.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

#include "containers/container.h"
#include "kubernetes/in_cluster_config.h"
#include "kubernetes/list_watch.h"
#include "kubernetes/pod_cache.h"

namespace palisade {

struct KubernetesCounters {
    bool connected = false;
    uint64_t pods = 0;
    uint64_t lists = 0;
    uint64_t errors = 0;
};

class PodSource {
  public:
    explicit PodSource(ApiServer server);
    void start();
    // Waits (bounded) until both lists are done or have failed once; true when done.
    bool waitListed(std::chrono::milliseconds timeout) const;

    // Raised by every change the API server reports.
    uint64_t version() const { return cache_.version(); }
    // joinPods with what is known now.
    void join(std::vector<Container>& containers) const;

    // `palisade status`'s "kubernetes": apiServer, nodeName, connected,
    // lastSync, pods, namespaces, lists, errors, error.
    nlohmann::json statusJson() const;
    KubernetesCounters counters() const;

  private:
    const ApiServer server_;
    PodCache cache_;
    // Declared last: stopped (destroyed) before the cache they write to.
    ListWatch pods_;
    ListWatch namespaces_;
};

}  // namespace palisade
