// Where the API server is and how the agent proves who it is: the in-cluster
// service account, as a DaemonSet pod gets it (docs/runtimes/kubernetes.md).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "config/config.h"

namespace palisade {

struct ApiServer {
    std::string host;  // a name or an address, IPv6 without brackets
    int port = 443;
    std::string tokenFile;
    std::string caFile;
    std::string nodeName;  // whose pods are watched
};

// "https://HOST[:PORT]" ("[IPv6]" in brackets); nullopt and `error` when it is not.
std::optional<ApiServer> parseApiServerUrl(const std::string& url, std::string& error);

struct KubernetesSetup {
    bool enabled = false;
    std::optional<ApiServer> server;  // enabled and complete
    std::string problem;              // enabled but incomplete: why
};

// kubernetes.* with the environment's defaults (KUBERNETES_SERVICE_HOST,
// KUBERNETES_SERVICE_PORT, NODE_NAME). `env` returns "" for an unset variable.
KubernetesSetup resolveKubernetes(const Config::Kubernetes& config,
                                  const std::function<std::string(const char*)>& env);

}  // namespace palisade
