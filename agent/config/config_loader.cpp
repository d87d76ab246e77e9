#include "config/config_loader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "kubernetes/in_cluster_config.h"
#include "util/yaml_reader.h"

namespace palisade {

namespace {

using yaml::Field;
using yaml::MapView;
using yaml::Reader;

// The agent runs from / under systemd, so a relative path would silently
// resolve against wherever it happened to be started.
void readPath(Reader& r, const Field& f, std::string& out, bool emptyAllowed = false) {
    auto text = r.string(f);
    if (!text) return;
    if (text->starts_with('/') || (emptyAllowed && text->empty())) {
        out = *text;
    } else {
        r.error(f.value, f.path + " must be an absolute path, not \"" + *text + "\"");
    }
}

void readPositive(Reader& r, const Field& f, uint32_t& out) {
    auto value = r.integer(f);
    if (!value) return;
    if (*value < 1) {
        r.error(f.value, f.path + " must be a positive integer, not " + f.value.scalar());
    } else if (*value > std::numeric_limits<uint32_t>::max()) {
        r.error(f.value, f.path + " is too large (at most 4294967295)");
    } else {
        out = static_cast<uint32_t>(*value);
    }
}

template <typename E>
void readChoice(Reader& r, const std::optional<Field>& f, E& out,
                std::initializer_list<std::pair<std::string_view, E>> choices) {
    if (!f) return;
    if (auto value = r.oneOf<E>(*f, choices)) out = *value;
}

void readRuntimes(Reader& r, const Field& f, Config::Runtimes& runtimes) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"dockerRoot", "containerdState", "crioStorage", "podmanRoot"});
    if (auto docker = m.get("dockerRoot")) readPath(r, *docker, runtimes.dockerRoot);
    if (auto containerd = m.get("containerdState")) {
        readPath(r, *containerd, runtimes.containerdState);
    }
    if (auto crio = m.get("crioStorage")) readPath(r, *crio, runtimes.crioStorage);
    if (auto podman = m.get("podmanRoot")) readPath(r, *podman, runtimes.podmanRoot);
}

void readNat64Prefix(Reader& r, const Field& f, Cidr& out) {
    auto text = r.string(f);
    if (!text) return;
    std::string error;
    auto cidr = parseCidr(*text, error);
    if (!cidr) {
        r.error(f.value, error);
    } else if (!cidr->v6) {
        r.error(f.value, f.path + " must be an IPv6 prefix, not " + cidr->str());
    } else if (cidr->prefixLen != 96) {
        r.error(f.value,
                "only /96 NAT64 prefixes are supported, not /" + std::to_string(cidr->prefixLen));
    } else {
        out = *cidr;
        out.line = f.value.line();
        out.column = f.value.column();
    }
}

void readDefaults(Reader& r, const Field& f, Config::Defaults& defaults) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"unmatched", "interContainer", "nat64Prefix"});
    readChoice<UnmatchedAction>(r, m.get("unmatched"), defaults.unmatched,
                                {{"allow", UnmatchedAction::Allow},
                                 {"audit", UnmatchedAction::Audit},
                                 {"deny", UnmatchedAction::Deny}});
    readChoice<InterContainer>(r, m.get("interContainer"), defaults.interContainer,
                               {{"allow", InterContainer::Allow}, {"deny", InterContainer::Deny}});
    if (auto prefix = m.get("nat64Prefix")) readNat64Prefix(r, *prefix, defaults.nat64Prefix);
}

void readFileSink(Reader& r, MapView& m, SinkConfig& sink) {
    if (auto path = m.require("path")) readPath(r, *path, sink.path);
    if (auto size = m.get("maxSizeMB")) readPositive(r, *size, sink.maxSizeMB);
    if (auto files = m.get("maxFiles")) readPositive(r, *files, sink.maxFiles);
}

SinkConfig readSink(Reader& r, const Field& f) {
    SinkConfig sink;
    if (!r.isMap(f)) return sink;
    MapView m(r, f);
    m.allowOnly({"type", "path", "maxSizeMB", "maxFiles"});
    auto typeField = m.require("type");
    if (!typeField) return sink;
    auto type = r.oneOf<SinkConfig::Type>(
        *typeField, {{"stdout", SinkConfig::Type::Stdout}, {"file", SinkConfig::Type::File}});
    if (!type) return sink;
    sink.type = *type;
    if (sink.type == SinkConfig::Type::File) {
        readFileSink(r, m, sink);
        return sink;
    }
    for (const Field& other : m.fields()) {
        if (other.key.scalar() != "type") {
            r.error(other.key, other.key.scalar() + " applies only to file sinks");
        }
    }
    return sink;
}

void readRateLimit(Reader& r, const Field& f, Config::Events& events) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"perContainerPerSecond", "burst"});
    if (auto rate = m.get("perContainerPerSecond")) {
        readPositive(r, *rate, events.perContainerPerSecond);
    }
    if (auto burst = m.get("burst")) readPositive(r, *burst, events.burst);
}

void readEvents(Reader& r, const Field& f, Config::Events& events) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"sinks", "rateLimit"});
    if (auto sinks = m.get("sinks"); sinks && r.isList(*sinks)) {
        events.sinks.clear();
        for (const Field& item : r.items(*sinks)) events.sinks.push_back(readSink(r, item));
    }
    if (auto rateLimit = m.get("rateLimit")) readRateLimit(r, *rateLimit, events);
}

// Why "host:port" is not acceptable, or an empty string when it is.
std::string listenProblem(const std::string& listen) {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return "expected HOST:PORT, e.g. 127.0.0.1:9464";
    const std::string host = listen.substr(0, colon);
    const std::string port = listen.substr(colon + 1);
    int portNumber = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), portNumber);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || portNumber < 1 ||
        portNumber > 65535) {
        return "the port must be a number from 1 to 65535";
    }
    if (host.empty()) return "the host is missing (0.0.0.0 listens on every IPv4 address)";
    if (host.front() == '[') {
        in6_addr address;
        if (host.back() == ']' &&
            inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &address) == 1) {
            return "";
        }
        return "\"" + host + "\" is not a bracketed IPv6 address";
    }
    if (host.find(':') != std::string::npos) {
        return "an IPv6 address must be in brackets, e.g. [::1]:9464";
    }
    auto isHostChar = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
    };
    if (!std::ranges::all_of(host, isHostChar))
        return "\"" + host + "\" is not a host name or address";
    return "";
}

void readMetrics(Reader& r, const Field& f, Config::Metrics& metrics) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"listen"});
    auto listen = m.get("listen");
    if (!listen) return;
    auto text = r.string(*listen);
    if (!text) return;
    // "" turns the endpoint off.
    if (std::string problem = text->empty() ? "" : listenProblem(*text); !problem.empty()) {
        r.error(listen->value, "invalid " + listen->path + " \"" + *text + "\": " + problem);
        return;
    }
    metrics.listen = *text;
}

void readSigning(Reader& r, const Field& f, Config::Signing& signing) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"publicKeys", "required", "recordDir"});
    if (auto dir = m.get("recordDir")) readPath(r, *dir, signing.recordDir);
    if (auto keys = m.get("publicKeys"); keys && r.isList(*keys)) {
        for (const Field& item : r.items(*keys)) {
            std::string path;
            readPath(r, item, path);
            if (!path.empty()) signing.publicKeys.push_back(path);
        }
    }
    auto required = m.get("required");
    if (!required) return;
    signing.required = r.boolean(*required).value_or(false);
    // Requiring signatures with no key to check them against would reject every policy.
    if (signing.required && signing.publicKeys.empty()) {
        r.error(required->value, "signing.required needs at least one key in signing.publicKeys");
    }
}

// "<N>ms" or "<N>s", from 1 ms to 10 minutes: a hook that waits longer than that would
// hold a container start hostage to an agent that is not coming back.
void readHookTimeout(Reader& r, const Field& f, std::chrono::milliseconds& out) {
    auto text = r.string(f);
    if (!text) return;
    std::string_view number = *text;
    uint64_t scale = 1000;
    if (number.ends_with("ms")) {
        number.remove_suffix(2);
        scale = 1;
    } else if (number.ends_with('s')) {
        number.remove_suffix(1);
    } else {
        number = {};
    }
    constexpr uint64_t kMaxMs = 600000;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size() || value < 1 ||
        value > kMaxMs / scale) {
        r.error(f.value, f.path + " must be a duration from 1ms to 600s, like 2s or 500ms, not \"" +
                             *text + "\"");
        return;
    }
    out = std::chrono::milliseconds(value * scale);
}

void readOciHook(Reader& r, const Field& f, Config::OciHook& hook) {
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"timeout", "onTimeout"});
    if (auto timeout = m.get("timeout")) readHookTimeout(r, *timeout, hook.timeout);
    readChoice<Config::OciHook::OnTimeout>(
        r, m.get("onTimeout"), hook.onTimeout,
        {{"fail", Config::OciHook::OnTimeout::Fail}, {"allow", Config::OciHook::OnTimeout::Allow}});
}

// A map's max_entries: 16,777,216 at most, past which preallocated maps (pal_cgroups,
// pal_peers...) would take gigabytes of kernel memory.
void readLimit(Reader& r, const std::optional<Field>& f, uint32_t& out) {
    constexpr uint32_t kMax = 1u << 24;
    if (!f) return;
    uint32_t value = 0;
    readPositive(r, *f, value);
    if (value > kMax) {
        r.error(f->value, f->path + " is too large (at most 16777216)");
    } else if (value > 0) {
        out = value;
    }
}

void readLimits(Reader& r, const Field& f, Config::Limits& limits) {
    using TooLarge = Config::Limits::TooLargeAtStart;
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"prefixes", "classes", "containers", "portSets", "addresses", "peers", "fqdnNames",
                 "fqdnAddresses", "dnsQueries", "tooLargeAtStart"});
    readLimit(r, m.get("prefixes"), limits.prefixes);
    readLimit(r, m.get("classes"), limits.classes);
    readLimit(r, m.get("containers"), limits.containers);
    readLimit(r, m.get("portSets"), limits.portSets);
    readLimit(r, m.get("addresses"), limits.addresses);
    readLimit(r, m.get("peers"), limits.peers);
    readLimit(r, m.get("fqdnNames"), limits.fqdnNames);
    readLimit(r, m.get("fqdnAddresses"), limits.fqdnAddresses);
    readLimit(r, m.get("dnsQueries"), limits.dnsQueries);
    readChoice<TooLarge>(r, m.get("tooLargeAtStart"), limits.tooLargeAtStart,
                         {{"run", TooLarge::Run}, {"refuse", TooLarge::Refuse}});
}

// A TTL in whole seconds, 0 included (an integer, like the other counts: no "60s").
// A TTL bound: "<N>s", "<N>m" or "<N>h" (SPEC's `60s`, `24h`), or a whole number of
// seconds; into seconds.
void readTtl(Reader& r, const Field& f, uint32_t& out) {
    auto text = r.string(f);
    if (!text) return;
    std::string_view number = *text;
    uint64_t scale = 1;
    if (number.ends_with('s')) {
        number.remove_suffix(1);
    } else if (number.ends_with('m')) {
        number.remove_suffix(1);
        scale = 60;
    } else if (number.ends_with('h')) {
        number.remove_suffix(1);
        scale = 3600;
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size() ||
        value > std::numeric_limits<uint32_t>::max() / scale) {
        r.error(f.value, f.path + " must be a duration like 60s, 10m or 24h (at most " +
                             std::to_string(std::numeric_limits<uint32_t>::max()) + "s), not \"" +
                             *text + "\"");
        return;
    }
    out = static_cast<uint32_t>(value * scale);
}

void readFqdn(Reader& r, const Field& f, Config::Fqdn& fqdn) {
    if (!r.isMap(f)) return;
    const size_t errorsBefore = r.errorCount();
    MapView m(r, f);
    m.allowOnly({"minTTL", "maxTTL", "perContainerAddresses", "learnedEvents"});
    auto minTtl = m.get("minTTL");
    auto maxTtl = m.get("maxTTL");
    if (minTtl) readTtl(r, *minTtl, fqdn.minTTL);
    if (maxTtl) readTtl(r, *maxTtl, fqdn.maxTTL);
    if (auto budget = m.get("perContainerAddresses")) {
        readPositive(r, *budget, fqdn.perContainerAddresses);
    }
    if (auto events = m.get("learnedEvents")) {
        fqdn.learnedEvents = r.boolean(*events).value_or(fqdn.learnedEvents);
    }
    // Compared once both read cleanly, a default included: `minTTL: 100000` alone is as
    // wrong as the two the wrong way round.
    if (r.errorCount() != errorsBefore || fqdn.maxTTL >= fqdn.minTTL) return;
    if (maxTtl) {
        r.error(maxTtl->value, maxTtl->path + " (" + std::to_string(fqdn.maxTTL) +
                                   ") is less than fqdn.minTTL (" + std::to_string(fqdn.minTTL) +
                                   ")");
    } else {
        r.error(minTtl->value, minTtl->path + " (" + std::to_string(fqdn.minTTL) +
                                   ") is more than fqdn.maxTTL (" + std::to_string(fqdn.maxTTL) +
                                   ", the default)");
    }
}

void readKubernetes(Reader& r, const Field& f, Config::Kubernetes& k8s) {
    using Enabled = Config::Kubernetes::Enabled;
    if (!r.isMap(f)) return;
    MapView m(r, f);
    m.allowOnly({"enabled", "apiServer", "tokenFile", "caFile", "nodeName"});
    readChoice<Enabled>(r, m.get("enabled"), k8s.enabled,
                        {{"auto", Enabled::Auto}, {"true", Enabled::On}, {"false", Enabled::Off}});
    if (auto url = m.get("apiServer")) {
        if (auto text = r.string(*url)) {
            std::string error;
            if (text->empty() || parseApiServerUrl(*text, error)) {
                k8s.apiServer = *text;
            } else {
                r.error(url->value, "invalid " + url->path + " \"" + *text + "\": " + error);
            }
        }
    }
    if (auto token = m.get("tokenFile")) readPath(r, *token, k8s.tokenFile);
    if (auto ca = m.get("caFile")) readPath(r, *ca, k8s.caFile);
    if (auto node = m.get("nodeName")) k8s.nodeName = r.string(*node).value_or("");
}

void readConfig(Reader& r, const yaml::Node& root, Config& config) {
    if (!root.isMap()) {
        r.error(root, "the configuration must be a map, not " + yaml::describe(root));
        return;
    }
    MapView m(r, {root, root, ""});
    m.allowOnly({"cgroupRoot", "policyDir", "stateDir", "controlSocket", "runtimes", "defaults",
                 "events", "metrics", "signing", "limits", "fqdn", "ociHook", "kubernetes"});
    if (auto f = m.get("cgroupRoot")) readPath(r, *f, config.cgroupRoot, true);
    if (auto f = m.get("policyDir")) readPath(r, *f, config.policyDir);
    if (auto f = m.get("stateDir")) readPath(r, *f, config.stateDir);
    if (auto f = m.get("controlSocket")) readPath(r, *f, config.controlSocket);
    if (auto f = m.get("runtimes")) readRuntimes(r, *f, config.runtimes);
    if (auto f = m.get("defaults")) readDefaults(r, *f, config.defaults);
    if (auto f = m.get("events")) readEvents(r, *f, config.events);
    if (auto f = m.get("metrics")) readMetrics(r, *f, config.metrics);
    if (auto f = m.get("signing")) readSigning(r, *f, config.signing);
    if (auto f = m.get("limits")) readLimits(r, *f, config.limits);
    if (auto f = m.get("fqdn")) readFqdn(r, *f, config.fqdn);
    if (auto f = m.get("ociHook")) readOciHook(r, *f, config.ociHook);
    if (auto f = m.get("kubernetes")) readKubernetes(r, *f, config.kubernetes);
}

}  // namespace

Config parseConfigText(const std::string& text, const std::string& path, Diagnostics& errors) {
    Reader reader(path, errors);
    std::vector<yaml::Node> documents = reader.loadAll(text);
    std::erase_if(documents, [](const yaml::Node& document) { return document.isNull(); });
    Config config;
    if (documents.size() > 1) {
        reader.error(documents[1], "the configuration must be a single YAML document");
    } else if (documents.size() == 1) {
        readConfig(reader, documents.front(), config);
    }
    reader.sortErrors();
    return reader.failed() ? Config() : config;
}

Config loadConfigFile(const std::string& path, Diagnostics& errors) {
    auto text = yaml::readSource(path, errors);
    return text ? parseConfigText(*text, path, errors) : Config();
}

}  // namespace palisade
