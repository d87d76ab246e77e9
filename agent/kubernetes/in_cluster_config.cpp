#include "kubernetes/in_cluster_config.h"

#include <charconv>

namespace palisade {

std::optional<ApiServer> parseApiServerUrl(const std::string& url, std::string& error) {
    constexpr std::string_view kScheme = "https://";
    if (!url.starts_with(kScheme)) {
        error = "must start with https:// (the API server is only spoken to over TLS)";
        return std::nullopt;
    }
    std::string_view rest = std::string_view(url).substr(kScheme.size());
    if (rest.ends_with('/')) rest.remove_suffix(1);
    ApiServer server;
    std::string_view port;
    if (rest.starts_with('[')) {
        const size_t close = rest.find(']');
        if (close == std::string_view::npos) {
            error = "an IPv6 address needs its closing ']'";
            return std::nullopt;
        }
        server.host = rest.substr(1, close - 1);
        rest.remove_prefix(close + 1);
        if (rest.starts_with(':'))
            port = rest.substr(1);
        else if (!rest.empty())
            rest = "/";  // anything else after ']' is a path or junk
    } else {
        const size_t colon = rest.find(':');
        server.host = rest.substr(0, colon);
        if (colon != std::string_view::npos) port = rest.substr(colon + 1);
    }
    if (server.host.empty() || rest.find('/') != std::string_view::npos) {
        error = "expected https://HOST[:PORT] with no path";
        return std::nullopt;
    }
    if (!port.empty()) {
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), server.port);
        if (ec != std::errc() || end != port.data() + port.size() || server.port < 1 ||
            server.port > 65535) {
            error = "the port must be a number from 1 to 65535";
            return std::nullopt;
        }
    }
    return server;
}

KubernetesSetup resolveKubernetes(const Config::Kubernetes& config,
                                  const std::function<std::string(const char*)>& env) {
    using Enabled = Config::Kubernetes::Enabled;
    const std::string serviceHost = env("KUBERNETES_SERVICE_HOST");
    KubernetesSetup setup;
    setup.enabled =
        config.enabled == Enabled::On || (config.enabled == Enabled::Auto && !serviceHost.empty());
    if (!setup.enabled) return setup;
    std::string url = config.apiServer;
    if (url.empty()) {
        if (serviceHost.empty()) {
            setup.problem =
                "kubernetes.apiServer is not set and neither is KUBERNETES_SERVICE_HOST";
            return setup;
        }
        const std::string port = env("KUBERNETES_SERVICE_PORT");
        const bool v6 = serviceHost.find(':') != std::string::npos;
        url = "https://" + (v6 ? "[" + serviceHost + "]" : serviceHost) +
              (port.empty() ? "" : ":" + port);
    }
    std::string error;
    auto server = parseApiServerUrl(url, error);
    if (!server) {
        setup.problem = "API server \"" + url + "\": " + error;
        return setup;
    }
    server->tokenFile = config.tokenFile;
    server->caFile = config.caFile;
    server->nodeName = config.nodeName.empty() ? env("NODE_NAME") : config.nodeName;
    if (server->nodeName.empty()) {
        setup.problem =
            "kubernetes.nodeName is not set and neither is NODE_NAME (the DaemonSet sets it "
            "from spec.nodeName)";
        return setup;
    }
    setup.server = std::move(server);
    return setup;
}

}  // namespace palisade
