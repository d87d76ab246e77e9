#include "policy/policy_parser.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>

#include "policy/signature.h"
#include "util/sha256.h"
#include "util/yaml_reader.h"

namespace palisade {

namespace {

namespace fs = std::filesystem;
using yaml::Field;
using yaml::MapView;
using yaml::Reader;

constexpr std::array<const char*, 4> kRuntimes = {"docker", "containerd", "cri-o", "podman"};

std::string locationText(const SourceLocation& where) {
    return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
}

// fnmatch(3) treats an unclosed '[' as a literal, which silently turns a typo
// into a selector that never matches.
bool hasUnclosedBracket(std::string_view glob) {
    for (size_t i = 0; i < glob.size(); ++i) {
        if (glob[i] == '\\') {
            ++i;
        } else if (glob[i] == '[') {
            size_t first = i + 1;
            if (first < glob.size() && (glob[first] == '!' || glob[first] == '^')) ++first;
            if (first < glob.size() && glob[first] == ']') ++first;  // "[]]" matches ']'
            i = glob.find(']', first);
            if (i == std::string_view::npos) return true;
        }
    }
    return false;
}

std::optional<std::string> readGlob(Reader& r, const Field& f) {
    auto glob = r.string(f);
    if (!glob) return std::nullopt;
    if (glob->empty()) {
        r.error(f.value, f.path + " must not be empty");
        return std::nullopt;
    }
    if (hasUnclosedBracket(*glob)) {
        r.error(f.value, "invalid glob \"" + *glob + "\" in " + f.path + ": '[' is never closed");
        return std::nullopt;
    }
    return glob;
}

std::optional<std::string> readRuntime(Reader& r, const Field& f) {
    auto glob = readGlob(r, f);
    if (!glob) return std::nullopt;
    if (std::ranges::none_of(kRuntimes, [&](const char* runtime) {
            return fnmatch(glob->c_str(), runtime, 0) == 0;
        })) {
        r.error(f.value, f.path + " must be docker, containerd, cri-o or podman (or a glob " +
                             "matching one), not \"" + *glob + "\"");
        return std::nullopt;
    }
    return glob;
}

std::map<std::string, std::string> readLabels(Reader& r, const Field& f) {
    std::map<std::string, std::string> labels;
    if (!r.isMap(f)) return labels;
    const MapView m(r, f);
    for (const Field& label : m.fields()) {
        if (auto glob = readGlob(r, label)) labels[label.key.scalar()] = *glob;
    }
    return labels;
}

// A string `problem` (labelKeyProblem, labelValueProblem) has nothing against,
// or nullopt (reported) when it has.
std::optional<std::string> readChecked(Reader& r, const Field& f,
                                       std::string (*problem)(std::string_view)) {
    auto text = r.string(f);
    if (!text) return std::nullopt;
    if (std::string why = problem(*text); !why.empty()) {
        r.error(f.value, why + " in " + f.path);
        return std::nullopt;
    }
    return text;
}

// matchLabels: exact values, as Kubernetes reads them (no globs).
std::map<std::string, std::string> readMatchLabels(Reader& r, const Field& f) {
    std::map<std::string, std::string> labels;
    if (!r.isMap(f)) return labels;
    const MapView m(r, f);
    for (const Field& label : m.fields()) {
        if (std::string problem = labelKeyProblem(label.key.scalar()); !problem.empty()) {
            r.error(label.key, problem + " in " + f.path);
        } else if (auto value = readChecked(r, label, labelValueProblem)) {
            labels[label.key.scalar()] = *value;
        }
    }
    return labels;
}

// Kubernetes' rules: In and NotIn need values, Exists and DoesNotExist take none.
LabelRequirement readRequirement(Reader& r, const Field& f) {
    using Op = LabelRequirement::Operator;
    LabelRequirement req;
    if (!r.isMap(f)) return req;
    MapView m(r, f);
    m.allowOnly({"key", "operator", "values"});
    if (auto key = m.require("key")) req.key = readChecked(r, *key, labelKeyProblem).value_or("");
    std::optional<Op> op;
    auto opField = m.require("operator");
    if (opField) {
        op = r.oneOf<Op>(*opField, {{"In", Op::In},
                                    {"NotIn", Op::NotIn},
                                    {"Exists", Op::Exists},
                                    {"DoesNotExist", Op::DoesNotExist}});
    }
    auto values = m.get("values");
    if (values && r.isList(*values)) {
        r.forEachItem(*values, [&](const Field& item) {
            if (auto value = readChecked(r, item, labelValueProblem)) req.values.push_back(*value);
        });
    }
    if (!op) return req;
    req.op = *op;
    const bool wantsValues = *op == Op::In || *op == Op::NotIn;
    const size_t given = values ? values->value.size() : 0;
    if (wantsValues && given == 0) {
        r.error(values ? values->value : opField->value,
                opField->value.scalar() + " needs a non-empty values list");
    } else if (!wantsValues && given > 0) {
        r.error(values->value, opField->value.scalar() + " takes no values");
    }
    return req;
}

LabelSelector readLabelSelector(Reader& r, const MapView& m) {
    LabelSelector selector;
    if (auto labels = m.get("matchLabels")) selector.matchLabels = readMatchLabels(r, *labels);
    if (auto exprs = m.get("matchExpressions"); exprs && r.isList(*exprs)) {
        for (const Field& item : r.items(*exprs)) {
            selector.matchExpressions.push_back(readRequirement(r, item));
        }
    }
    return selector;
}

// `namespaceSelector: {}` selects every namespace, as in a NetworkPolicy.
LabelSelector readNamespaceSelector(Reader& r, const Field& f) {
    if (!r.isMap(f)) return {};
    MapView m(r, f);
    m.allowOnly({"matchLabels", "matchExpressions"});
    return readLabelSelector(r, m);
}

// `emptyHint` says why an empty selector is refused where this one is used.
Selector readSelector(Reader& r, const Field& f, const std::string& emptyHint) {
    Selector selector;
    selector.where = r.at(f.value);
    if (!r.isMap(f)) return selector;
    const size_t errorsBefore = r.errorCount();
    MapView m(r, f);
    m.allowOnly({"name", "id", "runtime", "namespace", "pod", "labels", "matchLabels",
                 "matchExpressions", "namespaceSelector"});
    if (auto name = m.get("name")) selector.name = readGlob(r, *name);
    if (auto id = m.get("id")) selector.id = readGlob(r, *id);
    if (auto runtime = m.get("runtime")) selector.runtime = readRuntime(r, *runtime);
    if (auto ns = m.get("namespace")) selector.namespace_ = readGlob(r, *ns);
    if (auto pod = m.get("pod")) selector.pod = readGlob(r, *pod);
    if (auto labels = m.get("labels")) selector.labels = readLabels(r, *labels);
    selector.labelSelector = readLabelSelector(r, m);
    if (auto ns = m.get("namespaceSelector")) {
        selector.namespaceSelector = readNamespaceSelector(r, *ns);
    }
    if (selector.empty() && r.errorCount() == errorsBefore) {
        r.error(f.value,
                "empty selector: " + emptyHint + " (write name: \"*\" for every container)");
    }
    return selector;
}

std::optional<uint16_t> readPortNumber(Reader& r, const Field& f, std::string_view what) {
    auto value = r.integer(f);
    if (!value) return std::nullopt;
    if (*value < 1 || *value > 65535) {
        r.error(f.value, std::string(what) + " " + f.value.scalar() + " is out of range (1-65535)");
        return std::nullopt;
    }
    return static_cast<uint16_t>(*value);
}

PortSpec readPort(Reader& r, const Field& f) {
    PortSpec spec;
    spec.where = r.at(f.value);
    if (!r.isMap(f)) return spec;
    MapView m(r, f);
    m.allowOnly({"port", "endPort", "protocol"});
    auto port = m.get("port");
    auto endPort = m.get("endPort");
    if (auto protocol = m.get("protocol")) {
        spec.protocol = r.oneOf<Protocol>(*protocol,
                                          {{"TCP", Protocol::TCP},
                                           {"UDP", Protocol::UDP},
                                           {"ICMP", Protocol::ICMP},
                                           {"ANY", Protocol::ANY}},
                                          true);
    }
    if (port) spec.port = readPortNumber(r, *port, "port");
    if (endPort) spec.endPort = readPortNumber(r, *endPort, "endPort");
    if (spec.protocol == Protocol::ICMP && (port || endPort)) {
        r.error((port ? port : endPort)->key, "ICMP has no ports");
    } else if (endPort && !port) {
        r.error(endPort->key, "endPort needs port (the start of the range)");
    } else if (spec.port && spec.endPort && *spec.endPort < *spec.port) {
        r.error(endPort->value, "endPort " + std::to_string(*spec.endPort) + " is less than port " +
                                    std::to_string(*spec.port));
    }
    return spec;
}

// A rule's `ports` list (none: empty).
std::vector<PortSpec> readPorts(Reader& r, const MapView& rule) {
    std::vector<PortSpec> ports;
    if (auto list = rule.get("ports"); list && r.isList(*list)) {
        for (const Field& item : r.items(*list)) ports.push_back(readPort(r, item));
    }
    return ports;
}

std::optional<Cidr> readCidr(Reader& r, const Field& f) {
    auto text = r.string(f);
    if (!text) return std::nullopt;
    std::string error;
    auto cidr = parseCidr(*text, error);
    if (!cidr) {
        r.error(f.value, error);
        return std::nullopt;
    }
    cidr->line = f.value.line();
    cidr->column = f.value.column();
    return cidr;
}

std::vector<Cidr> readCidrList(Reader& r, const Field& f) {
    std::vector<Cidr> cidrs;
    if (!r.isList(f)) return cidrs;
    cidrs.reserve(f.value.size());
    r.forEachItem(f, [&](const Field& item) {
        if (auto cidr = readCidr(r, item)) cidrs.push_back(*cidr);
    });
    return cidrs;
}

void checkExceptsInside(Reader& r, const std::vector<Cidr>& cidrs, const std::vector<Cidr>& excepts,
                        const char* field) {
    for (const Cidr& except : excepts) {
        if (std::ranges::none_of(cidrs, [&](const Cidr& to) { return to.contains(except); })) {
            r.error(r.at(except.line, except.column),
                    "except " + except.str() + " is not inside any " + field + " of this rule");
        }
    }
}

// Why `name` (lower case, without its trailing dot; a pattern's leading "*." already
// taken off) is not a DNS name, or "" when it is. Underscores are allowed: service
// names such as "_ldap._tcp.example.com" have them. `length` is that of the whole
// text as matched: a pattern's shortest match is as long as the pattern itself.
std::string dnsNameProblem(std::string_view name, size_t length) {
    if (length > 253) {
        return std::to_string(length) + " characters, more than the 253 of a DNS name";
    }
    size_t start = 0;
    while (start <= name.size()) {
        const size_t dot = std::min(name.find('.', start), name.size());
        const std::string_view label = name.substr(start, dot - start);
        const std::string quoted = "label \"" + std::string(label) + "\"";
        if (label.empty()) return "a label is empty (\"..\", or a leading dot)";
        if (label.size() > 63) {
            return quoted + " has " + std::to_string(label.size()) +
                   " characters, more than the 63 of a DNS label";
        }
        for (const char c : label) {
            if (static_cast<unsigned char>(c) >= 0x80) {
                return quoted + " is not ASCII (write an international name in its xn-- form)";
            }
            if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' && c != '_') {
                return quoted + " has '" + std::string(1, c) +
                       "' (a label has letters, digits, '-' and '_')";
            }
        }
        if (label.front() == '-' || label.back() == '-') {
            return quoted + " starts or ends with '-'";
        }
        start = dot + 1;
    }
    return "";
}

// Reads one entry of `toFQDNs`: {matchName: NAME} or {matchPattern: "*.NAME"}.
// DNS names are case-insensitive and "example.com." is "example.com", so both
// are normalised here and every later comparison is plain string equality.
std::optional<FqdnSelector> readFqdn(Reader& r, const Field& f) {
    if (!r.isMap(f)) return std::nullopt;
    MapView m(r, f);
    m.allowOnly({"matchName", "matchPattern"});
    auto matchName = m.get("matchName");
    auto matchPattern = m.get("matchPattern");
    if (!matchName && !matchPattern) {
        r.error(f.value, "a toFQDNs entry needs matchName or matchPattern");
        return std::nullopt;
    }
    if (matchName && matchPattern) {
        r.error(f.value, "a toFQDNs entry has either matchName or matchPattern, not both");
        return std::nullopt;
    }
    const Field& given = matchName ? *matchName : *matchPattern;
    auto text = r.string(given);
    if (!text) return std::nullopt;
    std::string name = *text;
    std::ranges::transform(name, name.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    if (name.ends_with('.')) name.pop_back();
    if (name.empty()) {
        r.error(given.value, given.path + " must not be empty");
        return std::nullopt;
    }
    FqdnSelector fqdn;
    fqdn.pattern = matchPattern.has_value();
    fqdn.where = r.at(given.value);
    const std::string invalid = (fqdn.pattern ? "invalid pattern \"" : "invalid DNS name \"") +
                                *text + "\" in " + given.path + ": ";
    if (fqdn.pattern) {
        // Only "*." in front: what it matches is then one label, simple to state
        // and to check against a DNS answer.
        if (!name.starts_with("*.") || name.find('*', 1) != std::string::npos) {
            r.error(given.value, invalid +
                                     "matchPattern supports one leading \"*.\" label (e.g. "
                                     "\"*.example.com\")");
            return std::nullopt;
        }
        fqdn.name = name.substr(2);
    } else {
        if (name.find('*') != std::string::npos) {
            r.error(given.value, invalid +
                                     "matchName takes no '*'; write a pattern in matchPattern "
                                     "(e.g. \"*.example.com\")");
            return std::nullopt;
        }
        fqdn.name = name;
    }
    if (std::string why = dnsNameProblem(fqdn.name, name.size()); !why.empty()) {
        r.error(given.value, invalid + why);
        return std::nullopt;
    }
    return fqdn;
}

std::vector<FqdnSelector> readFqdnList(Reader& r, const Field& f) {
    std::vector<FqdnSelector> fqdns;
    if (!r.isList(f)) return fqdns;
    r.forEachItem(f, [&](const Field& item) {
        if (auto fqdn = readFqdn(r, item)) fqdns.push_back(*fqdn);
    });
    return fqdns;
}

EgressRule readRule(Reader& r, const Field& f) {
    EgressRule rule;
    rule.where = r.at(f.value);
    if (!r.isMap(f)) return rule;
    MapView m(r, f);
    m.allowOnly({"toCIDR", "except", "toContainers", "toFQDNs", "ports"});
    auto toCIDR = m.get("toCIDR");
    auto toContainers = m.get("toContainers");
    auto toFQDNs = m.get("toFQDNs");
    auto except = m.get("except");
    const int kinds = (toCIDR ? 1 : 0) + (toContainers ? 1 : 0) + (toFQDNs ? 1 : 0);
    if (kinds == 0) {
        r.error(f.value, "an egress rule needs toCIDR, toContainers or toFQDNs");
    } else if (kinds > 1) {
        r.error(f.value, "a rule has only one of toCIDR, toContainers and toFQDNs");
    }
    const size_t errorsBefore = r.errorCount();
    if (toCIDR) {
        rule.toCIDR = readCidrList(r, *toCIDR);
        if (rule.toCIDR.empty() && r.errorCount() == errorsBefore) {
            r.error(toCIDR->value, toCIDR->path + " must list at least one CIDR");
        }
    }
    if (except && !toCIDR) r.error(except->key, "except needs toCIDR in the same rule");
    if (except && toCIDR) {
        rule.except = readCidrList(r, *except);
        // Judged only when every CIDR of the rule could be read, or a typo in
        // toCIDR would also be reported against each except it should contain.
        if (r.errorCount() == errorsBefore)
            checkExceptsInside(r, rule.toCIDR, rule.except, "toCIDR");
    }
    if (toContainers) {
        rule.toContainers = readSelector(r, *toContainers, "toContainers must select something");
    }
    if (toFQDNs) {
        const size_t errorsBeforeFqdns = r.errorCount();
        rule.toFQDNs = readFqdnList(r, *toFQDNs);
        if (rule.toFQDNs.empty() && r.errorCount() == errorsBeforeFqdns) {
            r.error(toFQDNs->value, toFQDNs->path + " must list at least one name or pattern");
        }
    }
    rule.ports = readPorts(r, m);
    return rule;
}

BindRule readBindRule(Reader& r, const Field& f) {
    BindRule rule;
    rule.where = r.at(f.value);
    if (!r.isMap(f)) return rule;
    MapView m(r, f);
    m.allowOnly({"address", "addresses", "except", "ports"});
    auto address = m.get("address");
    auto addresses = m.get("addresses");
    const size_t errorsBefore = r.errorCount();
    if (!address && !addresses) {
        r.error(f.value, "a bind rule needs address or addresses");
    } else if (address && addresses) {
        r.error(f.value, "a bind rule has either address or addresses, not both");
    } else if (address) {
        if (auto cidr = readCidr(r, *address)) rule.addresses.push_back(*cidr);
    } else {
        rule.addresses = readCidrList(r, *addresses);
        if (rule.addresses.empty() && r.errorCount() == errorsBefore) {
            r.error(addresses->value, addresses->path + " must list at least one CIDR");
        }
    }
    if (auto except = m.get("except"); except && (address || addresses)) {
        rule.except = readCidrList(r, *except);
        if (r.errorCount() == errorsBefore) {
            checkExceptsInside(r, rule.addresses, rule.except, "address");
        }
    }
    rule.ports = readPorts(r, m);
    return rule;
}

void readExec(Reader& r, const Field& f, Policy& policy) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"setuid"});
    if (auto setuid = m.get("setuid")) {
        policy.execSetuid = r.oneOf<ExecAction>(*setuid, {{"allow", ExecAction::Allow},
                                                          {"flag", ExecAction::Flag},
                                                          {"deny", ExecAction::Deny}})
                                .value_or(policy.execSetuid);
    }
}

void readSpec(Reader& r, const Field& f, Policy& policy) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"selector", "mode", "egress", "bind", "rawSockets", "exec"});
    if (auto selector = m.require("selector")) {
        policy.selector = readSelector(r, *selector, "a policy must select something");
    }
    if (auto mode = m.get("mode")) {
        policy.mode = r.oneOf<Mode>(*mode, {{"enforce", Mode::Enforce}, {"audit", Mode::Audit}})
                          .value_or(policy.mode);
    }
    if (auto egress = m.get("egress"); egress && r.isList(*egress)) {
        for (const Field& item : r.items(*egress)) policy.egress.push_back(readRule(r, item));
    }
    if (auto bind = m.get("bind"); bind && r.isList(*bind)) {
        policy.bind.emplace();
        for (const Field& item : r.items(*bind)) policy.bind->push_back(readBindRule(r, item));
    }
    if (auto raw = m.get("rawSockets")) {
        policy.rawSockets =
            r.oneOf<RawSockets>(*raw, {{"deny", RawSockets::Deny}, {"allow", RawSockets::Allow}})
                .value_or(policy.rawSockets);
    }
    if (auto exec = m.get("exec")) readExec(r, *exec, policy);
}

// A DNS-1123 label, as Kubernetes requires of most object names: the name ends
// up in events, metrics labels and pinned map names.
bool isValidName(std::string_view name) {
    auto isAlnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    return !name.empty() && name.size() <= 63 && isAlnum(name.front()) && isAlnum(name.back()) &&
           std::ranges::all_of(name, [&](char c) { return isAlnum(c) || c == '-'; });
}

// What `metadata` says of a policy or a tombstone.
struct Metadata {
    std::string name;
    uint64_t version = 0;
    SourceLocation where;
};

// `versionRequired`, for tombstones: one without a version could never be newer
// than the policy it deletes.
Metadata readMetadata(Reader& r, const Field& f, bool versionRequired) {
    Metadata meta;
    if (!r.isMap(f)) return meta;
    MapView m(r, f);
    m.allowOnly({"name", "version"});
    if (auto version = versionRequired ? m.require("version") : m.get("version")) {
        if (auto value = r.integer(*version); value && *value < 1) {
            r.error(version->value,
                    version->path + " must be a positive integer, not " + version->value.scalar());
        } else if (value) {
            meta.version = static_cast<uint64_t>(*value);
        }
    }
    auto name = m.require("name");
    if (!name) return meta;
    auto text = r.string(*name);
    if (!text) return meta;
    if (!isValidName(*text)) {
        r.error(name->value, "invalid policy name \"" + *text +
                                 "\": use 1-63 lowercase letters, digits and '-', starting and "
                                 "ending with a letter or digit");
        return meta;
    }
    meta.name = *text;
    meta.where = r.at(name->value);
    return meta;
}

enum class Kind { Policy, Tombstone };

// Adds the document's policy or tombstone to `file`.
void readDocument(Reader& r, const yaml::Node& document, PolicyFile& file) {
    if (!document.isMap()) {
        r.error(document, "a policy document must be a map, not " + yaml::describe(document));
        return;
    }
    MapView m(r, {document, document, ""});
    if (auto apiVersion = m.require("apiVersion")) {
        r.oneOf<int>(*apiVersion, {{"palisade.dev/v1", 0}});
    }
    Kind kind = Kind::Policy;  // what the rest is read as when `kind` is wrong
    if (auto k = m.require("kind")) {
        kind = r.oneOf<Kind>(
                    *k, {{"ContainerPolicy", Kind::Policy}, {"PolicyTombstone", Kind::Tombstone}})
                   .value_or(kind);
    }
    const bool tombstone = kind == Kind::Tombstone;
    if (tombstone) {
        m.allowOnly({"apiVersion", "kind", "metadata"});
    } else {
        m.allowOnly({"apiVersion", "kind", "metadata", "spec"});
    }
    Metadata meta;
    if (auto metadata = m.require("metadata")) meta = readMetadata(r, *metadata, tombstone);
    if (tombstone) {
        file.tombstones.push_back({meta.name, meta.version, meta.where});
        return;
    }
    Policy policy;
    policy.name = meta.name;
    policy.version = meta.version;
    policy.where = meta.where;
    if (auto spec = m.require("spec")) readSpec(r, *spec, policy);
    file.policies.push_back(std::move(policy));
}

const SourceLocation* find(const std::map<std::string, SourceLocation>& names,
                           const std::string& name) {
    auto found = names.find(name);
    return found == names.end() ? nullptr : &found->second;
}

// Reports, at the later definition, every name (of a policy or a tombstone) of
// `file` that `seen` or an earlier document of `file` already has; adds the
// names to `seen` when there is none, so that the first definition wins.
Diagnostics duplicateNames(const PolicyFile& file, std::map<std::string, SourceLocation>& seen) {
    std::vector<std::pair<std::string, SourceLocation>> defined;
    for (const Policy& policy : file.policies) defined.emplace_back(policy.name, policy.where);
    for (const Tombstone& t : file.tombstones) defined.emplace_back(t.name, t.where);
    std::ranges::sort(defined, {}, [](const auto& d) {
        return std::pair(d.second.line, d.second.column);  // document order
    });
    Diagnostics errors;
    std::map<std::string, SourceLocation> mine;
    for (const auto& [name, where] : defined) {
        if (name.empty()) continue;
        const SourceLocation* first = find(seen, name);
        if (!first) first = find(mine, name);
        if (first) {
            errors.push_back({where, "duplicate policy name \"" + name + "\" (first defined at " +
                                         locationText(*first) + ")"});
        } else {
            mine.emplace(name, where);
        }
    }
    if (errors.empty()) seen.merge(mine);
    return errors;
}

bool isPolicyFileName(const fs::path& path) {
    const std::string name = path.filename().string();
    return !name.starts_with('.') &&  // hidden files and ConfigMap "..data" entries
           (path.extension() == ".yaml" || path.extension() == ".yml");
}

// A directory's policy files, sorted by name.
std::vector<std::string> listDirectory(const std::string& dir, Diagnostics& errors) {
    std::vector<std::string> files;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code statError;
        if (isPolicyFileName(it->path()) && it->is_regular_file(statError)) {
            files.push_back(it->path().string());
        }
    }
    if (ec) errors.push_back({{dir, 0, 0}, "cannot list directory: " + ec.message()});
    std::ranges::sort(files);
    return files;
}

std::vector<std::string> expandPaths(const std::vector<std::string>& paths, Diagnostics& errors) {
    std::vector<std::string> files;
    for (const std::string& path : paths) {
        std::error_code ec;
        const fs::file_status status = fs::status(path, ec);
        if (fs::is_directory(status)) {
            auto listed = listDirectory(path, errors);
            files.insert(files.end(), listed.begin(), listed.end());
        } else if (fs::exists(status)) {
            files.push_back(path);
        } else {
            errors.push_back({{path, 0, 0}, ec ? ec.message() : "no such file or directory"});
        }
    }
    return files;
}

}  // namespace

PolicyFile parsePolicyText(const std::string& text, const std::string& path) {
    PolicyFile file;
    file.path = path;
    file.sha256 = sha256Hex(text);
    Reader reader(path, file.errors);
    for (const yaml::Node& document : reader.loadAll(text)) {
        if (!document.isNull()) readDocument(reader, document, file);
    }
    std::map<std::string, SourceLocation> seen;
    Diagnostics duplicates = duplicateNames(file, seen);
    file.errors.insert(file.errors.end(), duplicates.begin(), duplicates.end());
    reader.sortErrors();
    if (!file.valid()) {
        file.policies.clear();
        file.tombstones.clear();
    }
    return file;
}

PolicyFile parsePolicyFile(const std::string& path, const PolicyVerifier* verifier,
                           const PolicyFile* unchanged) {
    PolicyFile file;
    file.path = path;
    auto text = yaml::readSource(path, file.errors);
    if (!text) return file;
    if (unchanged && unchanged->valid() && unchanged->sha256 == sha256Hex(*text)) return *unchanged;
    if (verifier) {
        // The signature is checked on the very bytes that get parsed.
        std::optional<std::string> sig;
        std::error_code ec;
        if (fs::exists(signaturePath(path), ec)) {
            Diagnostics ignored;
            sig = yaml::readSource(signaturePath(path), ignored).value_or("");
        }
        if (std::string why = verifier->check(*text, sig); !why.empty()) {
            file.sha256 = sha256Hex(*text);
            file.errors.push_back({{path, 0, 0}, why});
            return file;
        }
    }
    return parsePolicyText(*text, path);
}

std::vector<PolicyFile> loadPolicyPaths(const std::vector<std::string>& paths, Diagnostics& errors,
                                        const PolicyVerifier* verifier,
                                        const std::map<std::string, PolicyFile>* known) {
    std::vector<PolicyFile> files;
    std::set<fs::path> loaded;  // a file named twice (itself and its directory) is read once
    std::map<std::string, SourceLocation> seen;
    for (const std::string& path : expandPaths(paths, errors)) {
        std::error_code ec;
        if (!loaded.insert(fs::weakly_canonical(path, ec)).second) continue;
        const PolicyFile* unchanged = nullptr;
        if (known) {
            if (auto it = known->find(path); it != known->end()) unchanged = &it->second;
        }
        PolicyFile file = parsePolicyFile(path, verifier, unchanged);
        Diagnostics duplicates = duplicateNames(file, seen);
        if (!duplicates.empty()) {
            file.errors.insert(file.errors.end(), duplicates.begin(), duplicates.end());
            file.policies.clear();
            file.tombstones.clear();
        }
        files.push_back(std::move(file));
    }
    return files;
}

}  // namespace palisade
