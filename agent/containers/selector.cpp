// Policy selectors against containers (docs/reference/policy-language.md): every given field must
// match.
#include <fnmatch.h>

#include <algorithm>

#include "containers/container.h"

namespace palisade {

namespace {

bool globMatches(const std::string& pattern, const std::string& value) {
    return fnmatch(pattern.c_str(), value.c_str(), 0) == 0;
}

// An absent field constrains nothing.
bool fieldMatches(const std::optional<std::string>& pattern, const std::string& value) {
    return !pattern || globMatches(*pattern, value);
}

bool labelsMatch(const std::map<std::string, std::string>& wanted,
                 const std::map<std::string, std::string>& labels) {
    for (const auto& [key, pattern] : wanted) {
        auto it = labels.find(key);
        if (it == labels.end() || !globMatches(pattern, it->second)) return false;
    }
    return true;
}

bool requirementHolds(const LabelRequirement& req,
                      const std::map<std::string, std::string>& labels) {
    using Op = LabelRequirement::Operator;
    auto it = labels.find(req.key);
    const bool present = it != labels.end();
    const bool listed = present && std::ranges::find(req.values, it->second) != req.values.end();
    switch (req.op) {
        case Op::In:
            return listed;
        case Op::NotIn:
            return !listed;  // an absent label is not in the list either
        case Op::Exists:
            return present;
        case Op::DoesNotExist:
            return !present;
    }
    return false;
}

}  // namespace

bool labelSelectorMatches(const LabelSelector& s,
                          const std::map<std::string, std::string>& labels) {
    for (const auto& [key, value] : s.matchLabels) {
        auto it = labels.find(key);
        if (it == labels.end() || it->second != value) return false;
    }
    return std::ranges::all_of(
        s.matchExpressions, [&](const LabelRequirement& r) { return requirementHolds(r, labels); });
}

// A Kubernetes container's labels are its pod's, from the API server: unknown until it is
// joined to its pod (no API server, the first list not done, a pod the watch has not
// delivered yet). Unknown is not "none": no label selector matches them, not even NotIn
// or DoesNotExist, which an empty set would satisfy.
static bool labelsKnown(const Container& c) { return c.k8sNamespace.empty() || !c.podUid.empty(); }

static bool usesLabels(const Selector& s) {
    return !s.labels.empty() || !s.labelSelector.matchLabels.empty() ||
           !s.labelSelector.matchExpressions.empty();
}

bool selectorMatches(const Selector& s, const Container& c) {
    // A policy must say what it selects: an empty selector is a mistake, not "all".
    if (s.empty()) return false;
    if (usesLabels(s) && !labelsKnown(c)) return false;
    // IDs are written shortened, as `docker ps` shows them, so "3f2a" means "3f2a*".
    if (s.id && !globMatches(*s.id + "*", c.id)) return false;
    return fieldMatches(s.name, c.name) && fieldMatches(s.runtime, c.runtime) &&
           fieldMatches(s.namespace_, c.k8sNamespace) && fieldMatches(s.pod, c.pod) &&
           labelsMatch(s.labels, c.labels) && labelSelectorMatches(s.labelSelector, c.labels) &&
           (!s.namespaceSelector ||
            (c.namespaceLabels && labelSelectorMatches(*s.namespaceSelector, *c.namespaceLabels)));
}

bool sameIdentity(const Container& a, const Container& b) {
    Container withoutRecord = a;
    withoutRecord.recordedAddresses = b.recordedAddresses;
    return withoutRecord == b;
}

}  // namespace palisade
