#include "kubernetes/pod_source.h"

#include <ctime>

namespace palisade {

namespace {

nlohmann::json timestamp(std::chrono::system_clock::time_point when) {
    if (when == std::chrono::system_clock::time_point{}) return nullptr;
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

}  // namespace

PodSource::PodSource(ApiServer server)
    : server_(std::move(server)),
      pods_(
          server_, "/api/v1/pods", "spec.nodeName=" + server_.nodeName,
          {[this](const auto& items) { return cache_.replacePods(items); },
           [this](const auto& type, const auto& object) { return cache_.applyPod(type, object); }}),
      namespaces_(server_, "/api/v1/namespaces", "",
                  {[this](const auto& items) { return cache_.replaceNamespaces(items); },
                   [this](const auto& type, const auto& object) {
                       return cache_.applyNamespace(type, object);
                   }}) {}

void PodSource::start() {
    pods_.start();
    namespaces_.start();
}

bool PodSource::waitListed(std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const bool pods = pods_.waitListed(timeout);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return namespaces_.waitListed(std::max(left, std::chrono::milliseconds(0))) && pods;
}

void PodSource::join(std::vector<Container>& containers) const {
    joinPods(containers, *cache_.snapshot());
}

nlohmann::json PodSource::statusJson() const {
    const ListWatchStatus pods = pods_.status(), namespaces = namespaces_.status();
    const auto snapshot = cache_.snapshot();
    std::string error = pods.error.empty() ? "" : "pods: " + pods.error;
    if (!namespaces.error.empty()) {
        error += (error.empty() ? "" : "; ") + ("namespaces: " + namespaces.error);
    }
    return {{"apiServer", "https://" + server_.host + ":" + std::to_string(server_.port)},
            {"nodeName", server_.nodeName},
            {"connected", pods.connected && namespaces.connected},
            {"lastSync", timestamp(std::max(pods.lastSync, namespaces.lastSync))},
            {"pods", snapshot->pods.size()},
            {"namespaces", snapshot->namespaces.size()},
            {"lists", pods.lists + namespaces.lists},
            {"errors", pods.errors + namespaces.errors},
            {"error", error}};
}

KubernetesCounters PodSource::counters() const {
    const ListWatchStatus pods = pods_.status(), namespaces = namespaces_.status();
    return {pods.connected && namespaces.connected, cache_.snapshot()->pods.size(),
            pods.lists + namespaces.lists, pods.errors + namespaces.errors};
}

}  // namespace palisade
