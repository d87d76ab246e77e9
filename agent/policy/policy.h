// The policy language of docs/reference/policy-language.md as typed C++ structures.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/diagnostic.h"

namespace palisade {

// An IPv4 or IPv6 prefix. Host bits are zero (the parser rejects a CIDR with
// host bits set, as Kubernetes does, rather than guessing what was meant).
struct Cidr {
    bool v6 = false;
    std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes
    uint8_t prefixLen = 0;
    // Where it is written in its policy's file (1-based; 0: unknown). Not a
    // SourceLocation: a file name per CIDR of a 100,000-entry list is costly.
    uint32_t line = 0;
    uint32_t column = 0;

    std::string str() const;  // "10.0.0.0/8", "2001:db8::/32"
    // Whether every address of `inner` is in this prefix (same family, at
    // least as long, same leading bits); a prefix contains itself.
    bool contains(const Cidr& inner) const;
    bool operator==(const Cidr& o) const {
        return v6 == o.v6 && addr == o.addr && prefixLen == o.prefixLen;
    }
};

// Parses "a.b.c.d/n" or "x:y::/n" (a bare address means a host prefix).
// Returns std::nullopt and sets `error` when the text is not a valid CIDR.
std::optional<Cidr> parseCidr(const std::string& text, std::string& error);

enum class Protocol { TCP, UDP, ICMP, ANY };

// One entry of `ports`. `port` absent: every port of the protocol.
// `protocol` absent: TCP and UDP.
struct PortSpec {
    std::optional<uint16_t> port;
    std::optional<uint16_t> endPort;  // inclusive; >= port
    std::optional<Protocol> protocol;
    SourceLocation where;
};

// One of a Kubernetes label selector's matchExpressions: exact values, no globs.
struct LabelRequirement {
    enum class Operator { In, NotIn, Exists, DoesNotExist };
    std::string key;
    Operator op = Operator::Exists;
    std::vector<std::string> values;  // In, NotIn: at least one; else none
};

// A Kubernetes LabelSelector: every matchLabels entry and every expression
// must hold. Empty: it matches every label set.
struct LabelSelector {
    std::map<std::string, std::string> matchLabels;
    std::vector<LabelRequirement> matchExpressions;

    bool empty() const { return matchLabels.empty() && matchExpressions.empty(); }
};

// Every given field must match; name, id, runtime, namespace, pod and labels
// are fnmatch(3) globs.
struct Selector {
    std::optional<std::string> name;
    std::optional<std::string> id;
    std::optional<std::string> runtime;  // docker | containerd | cri-o | podman
    std::optional<std::string> namespace_;
    std::optional<std::string> pod;
    std::map<std::string, std::string> labels;
    // matchLabels and matchExpressions, as a NetworkPolicy's podSelector has them.
    LabelSelector labelSelector;
    // The labels of the container's Kubernetes namespace (from the API server);
    // given, it selects only containers of a namespace whose labels are known.
    std::optional<LabelSelector> namespaceSelector;
    SourceLocation where;

    bool empty() const {
        return !name && !id && !runtime && !namespace_ && !pod && labels.empty() &&
               labelSelector.empty() && !namespaceSelector;
    }
};

// One entry of `toFQDNs` (docs/reference/enforcement.md#fqdn): a DNS name, or a pattern "*.<name>"
// that matches any one label in front of <name>.
struct FqdnSelector {
    bool pattern = false;  // matchPattern "*.<name>": `name` holds <name>
    std::string name;      // lower case, no trailing dot, e.g. "s3.amazonaws.com"
    SourceLocation where;
    // "api.stripe.com" or "*.s3.amazonaws.com": as the user would write it, normalised.
    std::string str() const;
};

// Exactly one of toCIDR, toContainers and toFQDNs is given (the parser sees to it).
struct EgressRule {
    std::vector<Cidr> toCIDR;
    std::vector<Cidr> except;
    std::optional<Selector> toContainers;
    std::vector<FqdnSelector> toFQDNs;
    std::vector<PortSpec>
        ports;  // empty: every port (TCP and UDP... see docs/reference/policy-language.md)
    SourceLocation where;
};

// One entry of `bind`: local addresses and ports a container may bind a socket to
// (docs/reference/enforcement.md#bind).
struct BindRule {
    std::vector<Cidr> addresses;
    std::vector<Cidr> except;
    std::vector<PortSpec> ports;  // empty: every port, 0 (the kernel picks one) too
    SourceLocation where;
};

enum class Mode { Enforce, Audit };
enum class RawSockets { Deny, Allow };
enum class ExecAction { Allow, Flag, Deny };

struct Policy {
    std::string name;
    // metadata.version, 0 when not given. With signing.required an older version
    // than the one accepted before is refused (docs/signing.md#versions).
    uint64_t version = 0;
    Selector selector;
    Mode mode = Mode::Enforce;
    std::vector<EgressRule> egress;
    // Absent: binds are not judged. Given (even empty): a container this policy selects
    // may bind only what a `bind` rule of its policies allows.
    std::optional<std::vector<BindRule>> bind;
    RawSockets rawSockets = RawSockets::Deny;
    ExecAction execSetuid = ExecAction::Flag;
    SourceLocation where;  // the document's `metadata.name`
};

// Why `key` is not a valid Kubernetes label key ("[prefix/]name": name 1-63
// alphanumerics, '-', '_', '.', starting and ending alphanumeric; prefix a DNS
// subdomain of at most 253 characters), or "" when it is.
std::string labelKeyProblem(std::string_view key);
// Likewise for a label value: empty, or up to 63 characters like a key's name.
std::string labelValueProblem(std::string_view value);

// A `kind: PolicyTombstone` document: the signed word that the policy of that
// name is deleted, which signing.required asks for before a policy in force may
// go (docs/signing.md#deleting-a-policy). It enforces nothing.
struct Tombstone {
    std::string name;
    uint64_t version = 0;  // required, at least 1
    SourceLocation where;  // the document's `metadata.name`
};

}  // namespace palisade
