// libFuzzer target: what the API server sends (agent/kubernetes/api_objects.cpp),
// the same bytes as a list body and as one line of a watch, and the objects in
// them as pods, namespaces and Status.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kubernetes/api_objects.h"
#include "kubernetes/pod_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::string error;
    palisade::PodCache cache;
    if (auto list = palisade::parseList(text, error)) {
        cache.replacePods(list->items);
        cache.replaceNamespaces(list->items);
    }
    if (auto event = palisade::parseWatchEvent(text, error)) {
        cache.applyPod(event->type, event->object);
        cache.applyNamespace(event->type, event->object);
        palisade::parseStatus(event->object);
        palisade::resourceVersionOf(event->object);
    }
    palisade::podUidFromCgroupPath(text);
    return 0;
}
