// The node configuration of docs/reference/configuration.md as typed C++ structures, with built-in
// defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "util/diagnostic.h"

namespace palisade {

enum class UnmatchedAction { Allow, Audit, Deny };
enum class InterContainer { Allow, Deny };

struct SinkConfig {
    enum class Type { Stdout, File } type = Type::Stdout;
    std::string path;  // File only
    uint32_t maxSizeMB = 100;
    uint32_t maxFiles = 5;
};

struct Config {
    std::string cgroupRoot;  // empty: the cgroup2 mount from /proc/self/mountinfo
    std::string policyDir = "/etc/palisade/policies.d";
    std::string stateDir = "/sys/fs/bpf/palisade";
    std::string controlSocket = "/run/palisade/palisade.sock";
    struct Runtimes {
        std::string dockerRoot = "/var/lib/docker";
        std::string containerdState = "/run/containerd";
        std::string crioStorage = "/run/containers/storage";     // cri-o's run root
        std::string podmanRoot = "/var/lib/containers/storage";  // podman's graph root
    } runtimes;
    struct Defaults {
        UnmatchedAction unmatched = UnmatchedAction::Audit;
        InterContainer interContainer = InterContainer::Deny;
        Cidr nat64Prefix;  // default 64:ff9b::/96, set by Config::Config()
    } defaults;
    struct Events {
        std::vector<SinkConfig> sinks{SinkConfig{}};
        uint32_t perContainerPerSecond = 100;
        uint32_t burst = 200;
    } events;
    struct Metrics {
        std::string listen = "127.0.0.1:9464";
    } metrics;
    struct Signing {
        std::vector<std::string> publicKeys;
        bool required = false;
        // With `required`: the versions accepted and a copy of each file in
        // force (daemon/signed_record.h), on disk so that they outlive a reboot.
        std::string recordDir = "/var/lib/palisade/signing";
    } signing;
    // The capacity of the kernel maps, set before load (docs/reference/configuration.md#limits).
    // Each count is the entries of one map, both generations of a reload together.
    struct Limits {
        uint32_t prefixes = 262144;   // pal_lpm4, pal_lpm6, pal_hosts4, pal_hosts6 (each)
        uint32_t classes = 262144;    // pal_classes: (policy set, class of prefixes) pairs
        uint32_t containers = 65536;  // pal_cgroups, pal_ratelimit
        uint32_t portSets = 16384;    // pal_portsets
        uint32_t addresses = 65536;   // pal_addr4, pal_addr6 (each)
        uint32_t peers = 262144;      // pal_peers
        // pal_fqdn_names: toFQDNs names and patterns, both generations
        uint32_t fqdnNames = 16384;
        // pal_fqdn_addrs: addresses learned from DNS, all containers
        uint32_t fqdnAddresses = 65536;
        // pal_dns_queries: DNS queries awaiting their answer (LRU)
        uint32_t dnsQueries = 16384;
        // A start whose policy set the maps cannot hold: Run with the policy files that fit
        // (in name order, the rest reported); Refuse: exit 2.
        enum class TooLargeAtStart { Run, Refuse };
        TooLargeAtStart tooLargeAtStart = TooLargeAtStart::Run;
    } limits;
    // Egress by DNS name (docs/reference/enforcement.md#fqdn).
    struct Fqdn {
        uint32_t minTTL = 60;     // seconds an address learned from DNS lives at least
        uint32_t maxTTL = 86400;  // ... and at most, whatever the answer's TTL
        uint32_t perContainerAddresses = 4096;  // learned addresses one container may hold
        bool learnedEvents = false;             // a dns-learned event for each answer that teaches
    } fqdn;
    // `palisade oci-hook` (docs/runtimes/oci-hook.md): how long a container start waits
    // for its policy to be in force, and what happens when that cannot be confirmed.
    struct OciHook {
        enum class OnTimeout { Fail, Allow };
        std::chrono::milliseconds timeout{2000};
        OnTimeout onTimeout = OnTimeout::Fail;
    } ociHook;

    // Pod and namespace labels from the API server (docs/runtimes/kubernetes.md).
    struct Kubernetes {
        enum class Enabled { Auto, On, Off };
        Enabled enabled = Enabled::Auto;  // Auto: on when KUBERNETES_SERVICE_HOST is set
        std::string apiServer;            // empty: https://$KUBERNETES_SERVICE_HOST:$..._PORT
        std::string tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";
        std::string caFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
        std::string nodeName;  // empty: $NODE_NAME
    } kubernetes;

    Config();
};

}  // namespace palisade
