#include "config/config_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

namespace palisade {
namespace {

using testing::ElementsAre;
using testing::IsEmpty;

std::vector<std::string> problems(const Diagnostics& errors) {
    std::vector<std::string> out;
    for (const Diagnostic& d : errors) out.push_back(d.str());
    return out;
}

// The example of docs/reference/configuration.md, verbatim.
const char* const kSpecExample =
    R"(cgroupRoot: /sys/fs/cgroup          # cgroup v2 subtree the agent manages; default: the
                                    # cgroup2 mount found in /proc/self/mountinfo (works on
                                    # unified and hybrid hosts). Programs attach here and
                                    # containers are discovered below it.
policyDir: /etc/palisade/policies.d # the file drop, watched for changes
stateDir: /sys/fs/bpf/palisade      # pinned maps and links (bpffs)
controlSocket: /run/palisade/palisade.sock   # mode 0600, root only
runtimes:                           # where container metadata is read (all optional)
  dockerRoot: /var/lib/docker
  containerdState: /run/containerd
  crioStorage: /run/containers/storage
  podmanRoot: /var/lib/containers/storage
defaults:
  unmatched: audit                  # containers no policy selects: allow | audit | deny
  interContainer: deny              # east-west traffic between containers on this node
  nat64Prefix: 64:ff9b::/96         # IPv6 prefixes that embed an IPv4 address
events:
  sinks:
    - {type: stdout}
    - {type: file, path: /var/log/palisade/events.jsonl, maxSizeMB: 100, maxFiles: 5}
  rateLimit: {perContainerPerSecond: 100, burst: 200}
metrics:
  listen: 127.0.0.1:9464            # Prometheus text format at /metrics, and /healthz
signing:
  publicKeys: []                    # Ed25519 PEM files; when `required`, unsigned or
  required: false                   # tampered policy files are rejected
  recordDir: /var/lib/palisade/signing
ociHook:
  timeout: 2s                       # how long a container start waits for its policy
  onTimeout: fail                   # fail | allow (with an oci-hook-timeout event)
)";

void expectDefaults(const Config& c) {
    EXPECT_EQ(c.cgroupRoot, "");
    EXPECT_EQ(c.policyDir, "/etc/palisade/policies.d");
    EXPECT_EQ(c.stateDir, "/sys/fs/bpf/palisade");
    EXPECT_EQ(c.controlSocket, "/run/palisade/palisade.sock");
    EXPECT_EQ(c.runtimes.dockerRoot, "/var/lib/docker");
    EXPECT_EQ(c.runtimes.containerdState, "/run/containerd");
    EXPECT_EQ(c.runtimes.crioStorage, "/run/containers/storage");
    EXPECT_EQ(c.runtimes.podmanRoot, "/var/lib/containers/storage");
    EXPECT_EQ(c.defaults.unmatched, UnmatchedAction::Audit);
    EXPECT_EQ(c.defaults.interContainer, InterContainer::Deny);
    EXPECT_EQ(c.defaults.nat64Prefix.str(), "64:ff9b::/96");
    ASSERT_EQ(c.events.sinks.size(), 1u);
    EXPECT_EQ(c.events.sinks[0].type, SinkConfig::Type::Stdout);
    EXPECT_EQ(c.events.perContainerPerSecond, 100u);
    EXPECT_EQ(c.events.burst, 200u);
    EXPECT_EQ(c.metrics.listen, "127.0.0.1:9464");
    EXPECT_THAT(c.signing.publicKeys, IsEmpty());
    EXPECT_FALSE(c.signing.required);
    EXPECT_EQ(c.signing.recordDir, "/var/lib/palisade/signing");
    EXPECT_EQ(c.ociHook.timeout, std::chrono::milliseconds(2000));
    EXPECT_EQ(c.ociHook.onTimeout, Config::OciHook::OnTimeout::Fail);
    EXPECT_EQ(c.limits.prefixes, 262144u);
    EXPECT_EQ(c.limits.containers, 65536u);
    EXPECT_EQ(c.limits.portSets, 16384u);
    EXPECT_EQ(c.limits.addresses, 65536u);
    EXPECT_EQ(c.limits.peers, 262144u);
    EXPECT_EQ(c.limits.fqdnNames, 16384u);
    EXPECT_EQ(c.limits.fqdnAddresses, 65536u);
    EXPECT_EQ(c.limits.dnsQueries, 16384u);
    EXPECT_EQ(c.limits.tooLargeAtStart, Config::Limits::TooLargeAtStart::Run);
    EXPECT_EQ(c.fqdn.minTTL, 60u);
    EXPECT_EQ(c.fqdn.maxTTL, 86400u);
    EXPECT_EQ(c.fqdn.perContainerAddresses, 4096u);
}

TEST(Config, BuiltInDefaults) {
    Config c;
    expectDefaults(c);
    EXPECT_TRUE(c.defaults.nat64Prefix.v6);
    EXPECT_EQ(c.defaults.nat64Prefix.prefixLen, 96);
}

TEST(ConfigLoader, EmptyFileMeansDefaults) {
    for (const char* text : {"", "# only a comment\n", "---\n", "---\n...\n"}) {
        Diagnostics errors;
        Config c = parseConfigText(text, "c.yaml", errors);
        EXPECT_THAT(problems(errors), IsEmpty()) << text;
        expectDefaults(c);
    }
}

TEST(ConfigLoader, ParsesTheSpecExample) {
    Diagnostics errors;
    Config c = parseConfigText(kSpecExample, "palisade.yaml", errors);
    ASSERT_THAT(problems(errors), IsEmpty());
    EXPECT_EQ(c.cgroupRoot, "/sys/fs/cgroup");
    EXPECT_EQ(c.policyDir, "/etc/palisade/policies.d");
    EXPECT_EQ(c.stateDir, "/sys/fs/bpf/palisade");
    EXPECT_EQ(c.controlSocket, "/run/palisade/palisade.sock");
    EXPECT_EQ(c.runtimes.dockerRoot, "/var/lib/docker");
    EXPECT_EQ(c.runtimes.containerdState, "/run/containerd");
    EXPECT_EQ(c.runtimes.crioStorage, "/run/containers/storage");
    EXPECT_EQ(c.runtimes.podmanRoot, "/var/lib/containers/storage");
    EXPECT_EQ(c.defaults.unmatched, UnmatchedAction::Audit);
    EXPECT_EQ(c.defaults.interContainer, InterContainer::Deny);
    EXPECT_EQ(c.defaults.nat64Prefix.str(), "64:ff9b::/96");
    EXPECT_EQ(c.defaults.nat64Prefix.line, 16u);
    ASSERT_EQ(c.events.sinks.size(), 2u);
    EXPECT_EQ(c.events.sinks[0].type, SinkConfig::Type::Stdout);
    EXPECT_EQ(c.events.sinks[1].type, SinkConfig::Type::File);
    EXPECT_EQ(c.events.sinks[1].path, "/var/log/palisade/events.jsonl");
    EXPECT_EQ(c.events.sinks[1].maxSizeMB, 100u);
    EXPECT_EQ(c.events.sinks[1].maxFiles, 5u);
    EXPECT_EQ(c.events.perContainerPerSecond, 100u);
    EXPECT_EQ(c.events.burst, 200u);
    EXPECT_EQ(c.metrics.listen, "127.0.0.1:9464");
    EXPECT_THAT(c.signing.publicKeys, IsEmpty());
    EXPECT_FALSE(c.signing.required);
}

TEST(ConfigLoader, ReadsNonDefaultValues) {
    Diagnostics errors;
    Config c = parseConfigText(R"(cgroupRoot: ""
policyDir: /srv/policies
stateDir: /sys/fs/bpf/p2
controlSocket: /tmp/p.sock
runtimes: {dockerRoot: /data/docker}
defaults: {unmatched: deny, interContainer: allow, nat64Prefix: "2001:db8:64::/96"}
events:
  sinks:
    - {type: file, path: /var/log/p.jsonl}
  rateLimit: {burst: 1000}
metrics: {listen: "[::1]:9100"}
signing:
  publicKeys: [/etc/palisade/keys/a.pem, /etc/palisade/keys/b.pem]
  required: true
  recordDir: /srv/palisade/record
ociHook: {timeout: 250ms, onTimeout: allow}
)",
                               "c.yaml", errors);
    ASSERT_THAT(problems(errors), IsEmpty());
    EXPECT_EQ(c.cgroupRoot, "");
    EXPECT_EQ(c.policyDir, "/srv/policies");
    EXPECT_EQ(c.stateDir, "/sys/fs/bpf/p2");
    EXPECT_EQ(c.controlSocket, "/tmp/p.sock");
    EXPECT_EQ(c.runtimes.dockerRoot, "/data/docker");
    EXPECT_EQ(c.runtimes.containerdState, "/run/containerd");
    EXPECT_EQ(c.defaults.unmatched, UnmatchedAction::Deny);
    EXPECT_EQ(c.defaults.interContainer, InterContainer::Allow);
    EXPECT_EQ(c.defaults.nat64Prefix.str(), "2001:db8:64::/96");
    ASSERT_EQ(c.events.sinks.size(), 1u);
    EXPECT_EQ(c.events.sinks[0].type, SinkConfig::Type::File);
    EXPECT_EQ(c.events.sinks[0].path, "/var/log/p.jsonl");
    EXPECT_EQ(c.events.sinks[0].maxSizeMB, 100u);
    EXPECT_EQ(c.events.sinks[0].maxFiles, 5u);
    EXPECT_EQ(c.events.perContainerPerSecond, 100u);
    EXPECT_EQ(c.events.burst, 1000u);
    EXPECT_EQ(c.metrics.listen, "[::1]:9100");
    EXPECT_THAT(c.signing.publicKeys,
                ElementsAre("/etc/palisade/keys/a.pem", "/etc/palisade/keys/b.pem"));
    EXPECT_TRUE(c.signing.required);
    EXPECT_EQ(c.signing.recordDir, "/srv/palisade/record");
    EXPECT_EQ(c.ociHook.timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(c.ociHook.onTimeout, Config::OciHook::OnTimeout::Allow);
}

TEST(ConfigLoader, ReadsMapLimits) {
    Diagnostics errors;
    Config c = parseConfigText(
        "limits:\n  prefixes: 1000000\n  classes: 3000\n  containers: 1024\n  portSets: 64\n  "
        "addresses: 2048\n"
        "  peers: 16777216\n  fqdnNames: 100\n  fqdnAddresses: 1\n  dnsQueries: 512\n"
        "  tooLargeAtStart: refuse\n",
        "c.yaml", errors);
    ASSERT_THAT(problems(errors), IsEmpty());
    EXPECT_EQ(c.limits.prefixes, 1000000u);
    EXPECT_EQ(c.limits.classes, 3000u);
    EXPECT_EQ(c.limits.containers, 1024u);
    EXPECT_EQ(c.limits.portSets, 64u);
    EXPECT_EQ(c.limits.addresses, 2048u);
    EXPECT_EQ(c.limits.peers, 16777216u);
    EXPECT_EQ(c.limits.fqdnNames, 100u);
    EXPECT_EQ(c.limits.fqdnAddresses, 1u);
    EXPECT_EQ(c.limits.dnsQueries, 512u);
    EXPECT_EQ(c.limits.tooLargeAtStart, Config::Limits::TooLargeAtStart::Refuse);
}

TEST(ConfigLoader, ReadsFqdn) {
    Diagnostics errors;
    Config c = parseConfigText(
        "fqdn:\n  minTTL: 5\n  maxTTL: 3600\n  perContainerAddresses: 1\n  learnedEvents: true\n",
        "c.yaml", errors);
    ASSERT_THAT(problems(errors), IsEmpty());
    EXPECT_EQ(c.fqdn.minTTL, 5u);
    EXPECT_EQ(c.fqdn.maxTTL, 3600u);
    EXPECT_EQ(c.fqdn.perContainerAddresses, 1u);
    EXPECT_TRUE(c.fqdn.learnedEvents);
    EXPECT_FALSE(Config().fqdn.learnedEvents) << "off by default";
}

TEST(ConfigLoader, FqdnTtlsMayBeZeroOrEqual) {
    for (auto [text, min, max] : {std::tuple{"{minTTL: 0}", 0u, 86400u},
                                  {"{minTTL: 0, maxTTL: 0}", 0u, 0u},
                                  {"{minTTL: 300, maxTTL: 300}", 300u, 300u},
                                  {"{minTTL: 86400}", 86400u, 86400u},
                                  {"{maxTTL: 60}", 60u, 60u},
                                  {"{minTTL: 100000, maxTTL: 4294967295}", 100000u, 4294967295u},
                                  {"{minTTL: 30s, maxTTL: 10m}", 30u, 600u},
                                  {"{maxTTL: 24h}", 60u, 86400u},
                                  {"{}", 60u, 86400u}}) {
        Diagnostics errors;
        Config c = parseConfigText("fqdn: " + std::string(text) + "\n", "c.yaml", errors);
        EXPECT_THAT(problems(errors), IsEmpty()) << text;
        EXPECT_EQ(c.fqdn.minTTL, min) << text;
        EXPECT_EQ(c.fqdn.maxTTL, max) << text;
        EXPECT_EQ(c.fqdn.perContainerAddresses, 4096u) << text;
    }
}

TEST(ConfigLoader, ReadsHookTimeoutsInSecondsOrMilliseconds) {
    for (auto [text, ms] : {std::pair{"1ms", 1},
                            {"600s", 600000},
                            {"600000ms", 600000},
                            {"3s", 3000},
                            {"0750ms", 750}}) {
        Diagnostics errors;
        Config c =
            parseConfigText("ociHook: {timeout: " + std::string(text) + "}\n", "c.yaml", errors);
        EXPECT_THAT(problems(errors), IsEmpty()) << text;
        EXPECT_EQ(c.ociHook.timeout, std::chrono::milliseconds(ms)) << text;
    }
    for (const char* text : {"0s", "0ms", "601s", "600001ms", "2", "s", "ms", "-1s", "1.5s", "2 s",
                             "2m", "18446744073709551616s", "\"\""}) {
        Diagnostics errors;
        parseConfigText("ociHook: {timeout: " + std::string(text) + "}\n", "c.yaml", errors);
        ASSERT_EQ(errors.size(), 1u) << text;
        EXPECT_THAT(errors[0].str(), testing::HasSubstr("ociHook.timeout must be a duration"))
            << text;
    }
}

TEST(ConfigLoader, EmptySinkListTurnsSinksOff) {
    Diagnostics errors;
    Config c = parseConfigText("events: {sinks: []}\n", "c.yaml", errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    EXPECT_THAT(c.events.sinks, IsEmpty());
}

TEST(ConfigLoader, AcceptsListenAddresses) {
    for (const char* listen : {"127.0.0.1:9464", "0.0.0.0:1", "localhost:65535", "[::]:9464",
                               "[fe80::1]:80", "metrics.internal:9464", ""}) {
        Diagnostics errors;
        Config c = parseConfigText("metrics: {listen: \"" + std::string(listen) + "\"}\n", "c.yaml",
                                   errors);
        EXPECT_THAT(problems(errors), IsEmpty()) << listen;
        EXPECT_EQ(c.metrics.listen, listen);
    }
}

struct ConfigErrorCase {
    std::string name;
    std::string yaml;
    std::vector<std::string> errors;
};

std::ostream& operator<<(std::ostream& os, const ConfigErrorCase& c) { return os << c.name; }

std::string caseName(const testing::TestParamInfo<ConfigErrorCase>& info) {
    return info.param.name;
}

class ConfigErrorTest : public testing::TestWithParam<ConfigErrorCase> {};

TEST_P(ConfigErrorTest, ReportsTheProblemAndReturnsDefaults) {
    Diagnostics errors;
    Config c = parseConfigText(GetParam().yaml, "c.yaml", errors);
    EXPECT_EQ(problems(errors), GetParam().errors);
    expectDefaults(c);
}

INSTANTIATE_TEST_SUITE_P(
    Top, ConfigErrorTest,
    testing::Values(
        ConfigErrorCase{
            "SyntaxError",
            "policyDir: /a\n  stateDir: /b\n",
            {"c.yaml:2:11: YAML syntax error: mapping values are not allowed in this context"}},
        ConfigErrorCase{"NotAMap",
                        "- policyDir\n",
                        {"c.yaml:1:1: the configuration must be a map, not a list"}},
        ConfigErrorCase{"TwoDocuments",
                        "policyDir: /a\n---\npolicyDir: /b\n",
                        {"c.yaml:3:1: the configuration must be a single YAML document"}},
        ConfigErrorCase{"MisspeltKey",
                        "policydir: /srv/policies\n",
                        {"c.yaml:1:1: unknown key \"policydir\" at the top level (did you mean "
                         "\"policyDir\"?)"}},
        ConfigErrorCase{"SnakeCaseKey",
                        "state_dir: /srv/state\n",
                        {"c.yaml:1:1: unknown key \"state_dir\" at the top level (did you mean "
                         "\"stateDir\"?)"}},
        ConfigErrorCase{"UnknownKey",
                        "logLevel: debug\n",
                        {"c.yaml:1:1: unknown key \"logLevel\" at the top level (expected "
                         "cgroupRoot, policyDir, stateDir, controlSocket, runtimes, defaults, "
                         "events, metrics, signing, limits, fqdn, ociHook or kubernetes)"}},
        ConfigErrorCase{"DuplicateKey",
                        "stateDir: /a\nstateDir: /b\n",
                        {"c.yaml:2:1: duplicate key \"stateDir\" at the top level (first at line "
                         "1)"}},
        ConfigErrorCase{"RelativePath",
                        "policyDir: policies.d\n",
                        {"c.yaml:1:12: policyDir must be an absolute path, not \"policies.d\""}},
        ConfigErrorCase{"EmptyPath",
                        "stateDir: \"\"\n",
                        {"c.yaml:1:11: stateDir must be an absolute path, not \"\""}},
        ConfigErrorCase{"PathNotAString",
                        "controlSocket: [/run/p.sock]\n",
                        {"c.yaml:1:16: controlSocket must be a string, not a list"}},
        ConfigErrorCase{
            "PathWithoutValue", "cgroupRoot:\n", {"c.yaml:1:1: cgroupRoot has no value"}},
        ConfigErrorCase{"RuntimesAList",
                        "runtimes: [docker]\n",
                        {"c.yaml:1:11: runtimes must be a map, not a list"}},
        ConfigErrorCase{"UnknownRuntime",
                        "runtimes:\n  lxcPath: /var/lib/lxc\n",
                        {"c.yaml:2:3: unknown key \"lxcPath\" in runtimes (expected dockerRoot, "
                         "containerdState, crioStorage or podmanRoot)"}},
        ConfigErrorCase{"RelativePodmanRoot",
                        "runtimes: {podmanRoot: var/lib/containers/storage}\n",
                        {"c.yaml:1:24: runtimes.podmanRoot must be an absolute path, not "
                         "\"var/lib/containers/storage\""}},
        ConfigErrorCase{"RelativeRuntimePath",
                        "runtimes: {crioStorage: run/containers}\n",
                        {"c.yaml:1:25: runtimes.crioStorage must be an absolute path, not "
                         "\"run/containers\""}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Defaults, ConfigErrorTest,
    testing::Values(
        ConfigErrorCase{"BadUnmatched",
                        "defaults:\n  unmatched: block\n",
                        {"c.yaml:2:14: defaults.unmatched must be allow, audit or deny, not "
                         "\"block\""}},
        ConfigErrorCase{"BadInterContainer",
                        "defaults: {interContainer: audit}\n",
                        {"c.yaml:1:28: defaults.interContainer must be allow or deny, not "
                         "\"audit\""}},
        ConfigErrorCase{"Nat64NotACidr",
                        "defaults: {nat64Prefix: nat64}\n",
                        {"c.yaml:1:25: invalid CIDR \"nat64\": \"nat64\" is not an IPv4 or IPv6 "
                         "address"}},
        ConfigErrorCase{"Nat64HostBits",
                        "defaults: {nat64Prefix: \"64:ff9b::1/96\"}\n",
                        {"c.yaml:1:25: CIDR 64:ff9b::1/96 has host bits set (did you mean "
                         "64:ff9b::/96?)"}},
        ConfigErrorCase{"Nat64Ipv4",
                        "defaults: {nat64Prefix: 10.64.0.0/16}\n",
                        {"c.yaml:1:25: defaults.nat64Prefix must be an IPv6 prefix, not "
                         "10.64.0.0/16"}},
        ConfigErrorCase{"Nat64NotSlash96",
                        "defaults: {nat64Prefix: \"2001:db8:64::/64\"}\n",
                        {"c.yaml:1:25: only /96 NAT64 prefixes are supported, not /64"}},
        ConfigErrorCase{"Nat64AList",
                        "defaults: {nat64Prefix: [\"64:ff9b::/96\"]}\n",
                        {"c.yaml:1:25: defaults.nat64Prefix must be a string, not a list"}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Limits, ConfigErrorTest,
    testing::Values(
        ConfigErrorCase{"LimitZero",
                        "limits: {prefixes: 0}\n",
                        {"c.yaml:1:20: limits.prefixes must be a positive integer, not 0"}},
        ConfigErrorCase{"LimitTooLarge",
                        "limits: {peers: 16777217}\n",
                        {"c.yaml:1:17: limits.peers is too large (at most 16777216)"}},
        ConfigErrorCase{"LimitNotANumber",
                        "limits:\n  containers: many\n",
                        {"c.yaml:2:15: limits.containers must be an integer, not \"many\""}},
        ConfigErrorCase{
            "UnknownLimit",
            "limits: {rules: 10}\n",
            {"c.yaml:1:10: unknown key \"rules\" in limits (expected prefixes, classes, "
             "containers, portSets, addresses, peers, fqdnNames, fqdnAddresses, "
             "dnsQueries or tooLargeAtStart)"}},
        ConfigErrorCase{"FqdnNamesZero",
                        "limits: {fqdnNames: 0}\n",
                        {"c.yaml:1:21: limits.fqdnNames must be a positive integer, not 0"}},
        ConfigErrorCase{"FqdnAddressesTooLarge",
                        "limits:\n  fqdnAddresses: 16777217\n",
                        {"c.yaml:2:18: limits.fqdnAddresses is too large (at most 16777216)"}},
        ConfigErrorCase{"DnsQueriesNotANumber",
                        "limits: {dnsQueries: lots}\n",
                        {"c.yaml:1:22: limits.dnsQueries must be an integer, not \"lots\""}},
        ConfigErrorCase{"MisspeltDnsQueries",
                        "limits: {dnsQeries: 10}\n",
                        {"c.yaml:1:10: unknown key \"dnsQeries\" in limits (did you mean "
                         "\"dnsQueries\"?)"}},
        ConfigErrorCase{"BadTooLargeAtStart",
                        "limits: {tooLargeAtStart: crash}\n",
                        {"c.yaml:1:27: limits.tooLargeAtStart must be run or refuse, not "
                         "\"crash\""}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Fqdn, ConfigErrorTest,
    testing::Values(
        ConfigErrorCase{"NotAMap", "fqdn: 60\n", {"c.yaml:1:7: fqdn must be a map, not \"60\""}},
        ConfigErrorCase{"UnknownKey",
                        "fqdn: {ttl: 60}\n",
                        {"c.yaml:1:8: unknown key \"ttl\" in fqdn (expected minTTL, maxTTL, "
                         "perContainerAddresses or learnedEvents)"}},
        ConfigErrorCase{"MisspeltKey",
                        "fqdn:\n  addressesPerContainer: 10\n",
                        {"c.yaml:2:3: unknown key \"addressesPerContainer\" in fqdn (expected "
                         "minTTL, maxTTL, perContainerAddresses or learnedEvents)"}},
        ConfigErrorCase{"MaxBelowMin",
                        "fqdn:\n  minTTL: 300\n  maxTTL: 299\n",
                        {"c.yaml:3:11: fqdn.maxTTL (299) is less than fqdn.minTTL (300)"}},
        ConfigErrorCase{"MaxBelowDefaultMin",
                        "fqdn: {maxTTL: 59}\n",
                        {"c.yaml:1:16: fqdn.maxTTL (59) is less than fqdn.minTTL (60)"}},
        ConfigErrorCase{"MinAboveDefaultMax",
                        "fqdn: {minTTL: 86401}\n",
                        {"c.yaml:1:16: fqdn.minTTL (86401) is more than fqdn.maxTTL (86400, the "
                         "default)"}},
        ConfigErrorCase{"NegativeMinTtl",
                        "fqdn: {minTTL: -1}\n",
                        {"c.yaml:1:16: fqdn.minTTL must be a duration like 60s, 10m or 24h (at "
                         "most 4294967295s), not \"-1\""}},
        ConfigErrorCase{"HugeMaxTtl",
                        "fqdn: {maxTTL: 4294967296}\n",
                        {"c.yaml:1:16: fqdn.maxTTL must be a duration like 60s, 10m or 24h (at "
                         "most 4294967295s), not \"4294967296\""}},
        ConfigErrorCase{"TtlWithAnotherUnit",
                        "fqdn: {minTTL: 2d}\n",
                        {"c.yaml:1:16: fqdn.minTTL must be a duration like 60s, 10m or 24h (at "
                         "most 4294967295s), not \"2d\""}},
        ConfigErrorCase{"HugeTtlInHours",
                        "fqdn: {maxTTL: 1193047h}\n",
                        {"c.yaml:1:16: fqdn.maxTTL must be a duration like 60s, 10m or 24h (at "
                         "most 4294967295s), not \"1193047h\""}},
        ConfigErrorCase{"BadMaxTtlNotComparedAgain",
                        "fqdn: {minTTL: 100000, maxTTL: -5}\n",
                        {"c.yaml:1:32: fqdn.maxTTL must be a duration like 60s, 10m or 24h (at "
                         "most 4294967295s), not \"-5\""}},
        ConfigErrorCase{"ZeroAddressesPerContainer",
                        "fqdn: {perContainerAddresses: 0}\n",
                        {"c.yaml:1:31: fqdn.perContainerAddresses must be a positive integer, "
                         "not 0"}},
        ConfigErrorCase{"AddressesPerContainerQuoted",
                        "fqdn: {perContainerAddresses: \"10\"}\n",
                        {"c.yaml:1:31: fqdn.perContainerAddresses must be an integer, not the "
                         "string \"10\" (remove the quotes)"}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Events, ConfigErrorTest,
    testing::Values(
        ConfigErrorCase{"SinksAMap",
                        "events:\n  sinks: {type: stdout}\n",
                        {"c.yaml:2:10: events.sinks must be a list, not a map"}},
        ConfigErrorCase{"SinkWithoutType",
                        "events:\n  sinks:\n    - {path: /var/log/e.jsonl}\n",
                        {"c.yaml:3:7: events.sinks[0].type is required"}},
        ConfigErrorCase{"UnknownSinkType",
                        "events:\n  sinks:\n    - {type: syslog}\n",
                        {"c.yaml:3:14: events.sinks[0].type must be stdout or file, not "
                         "\"syslog\""}},
        ConfigErrorCase{"FileSinkWithoutPath",
                        "events:\n  sinks:\n    - type: file\n",
                        {"c.yaml:3:7: events.sinks[0].path is required"}},
        ConfigErrorCase{"RelativeSinkPath",
                        "events:\n  sinks:\n    - {type: file, path: events.jsonl}\n",
                        {"c.yaml:3:26: events.sinks[0].path must be an absolute path, not "
                         "\"events.jsonl\""}},
        ConfigErrorCase{"StdoutSinkWithFileKeys",
                        "events:\n  sinks:\n    - {type: stdout, path: /a, maxFiles: 2}\n",
                        {"c.yaml:3:22: path applies only to file sinks",
                         "c.yaml:3:32: maxFiles applies only to file sinks"}},
        ConfigErrorCase{"UnknownSinkKey",
                        "events:\n  sinks:\n    - {type: file, path: /a, maxSize: 10}\n",
                        {"c.yaml:3:30: unknown key \"maxSize\" in events.sinks[0] (did you mean "
                         "\"maxSizeMB\"?)"}},
        ConfigErrorCase{"ZeroMaxSize",
                        "events:\n  sinks:\n    - {type: file, path: /a, maxSizeMB: 0}\n",
                        {"c.yaml:3:41: events.sinks[0].maxSizeMB must be a positive integer, not "
                         "0"}},
        ConfigErrorCase{"NegativeMaxFiles",
                        "events:\n  sinks:\n    - {type: file, path: /a, maxFiles: -3}\n",
                        {"c.yaml:3:40: events.sinks[0].maxFiles must be a positive integer, not "
                         "-3"}},
        ConfigErrorCase{"MaxFilesNotANumber",
                        "events:\n  sinks:\n    - {type: file, path: /a, maxFiles: five}\n",
                        {"c.yaml:3:40: events.sinks[0].maxFiles must be an integer, not "
                         "\"five\""}},
        ConfigErrorCase{"SecondSinkBad",
                        "events:\n  sinks:\n    - {type: stdout}\n    - stdout\n",
                        {"c.yaml:4:7: events.sinks[1] must be a map, not \"stdout\""}},
        ConfigErrorCase{"ZeroRate",
                        "events:\n  rateLimit: {perContainerPerSecond: 0}\n",
                        {"c.yaml:2:38: events.rateLimit.perContainerPerSecond must be a positive "
                         "integer, not 0"}},
        ConfigErrorCase{"HugeBurst",
                        "events:\n  rateLimit: {burst: 4294967296}\n",
                        {"c.yaml:2:22: events.rateLimit.burst is too large (at most "
                         "4294967295)"}},
        ConfigErrorCase{"QuotedBurst",
                        "events:\n  rateLimit: {burst: \"200\"}\n",
                        {"c.yaml:2:22: events.rateLimit.burst must be an integer, not the string "
                         "\"200\" (remove the quotes)"}},
        ConfigErrorCase{"UnknownRateLimitKey",
                        "events:\n  rateLimit: {perSecond: 5}\n",
                        {"c.yaml:2:15: unknown key \"perSecond\" in events.rateLimit (expected "
                         "perContainerPerSecond or burst)"}}),
    caseName);

ConfigErrorCase badListen(const std::string& testName, const std::string& listen,
                          const std::string& why) {
    return {testName,
            "metrics:\n  listen: \"" + listen + "\"\n",
            {"c.yaml:2:11: invalid metrics.listen \"" + listen + "\": " + why}};
}

INSTANTIATE_TEST_SUITE_P(
    Metrics, ConfigErrorTest,
    testing::Values(
        badListen("NoPort", "9464", "expected HOST:PORT, e.g. 127.0.0.1:9464"),
        badListen("PortZero", "127.0.0.1:0", "the port must be a number from 1 to 65535"),
        badListen("PortTooLarge", "127.0.0.1:65536", "the port must be a number from 1 to 65535"),
        badListen("PortNotANumber", "127.0.0.1:http", "the port must be a number from 1 to 65535"),
        badListen("EmptyPort", "127.0.0.1:", "the port must be a number from 1 to 65535"),
        badListen("NoHost", ":9464", "the host is missing (0.0.0.0 listens on every IPv4 address)"),
        badListen("UnbracketedIpv6", "::1:9464",
                  "an IPv6 address must be in brackets, e.g. [::1]:9464"),
        badListen("BadBracketedIpv6", "[::g]:9464", "\"[::g]\" is not a bracketed IPv6 address"),
        badListen("BadHost", "local host:9464", "\"local host\" is not a host name or address"),
        ConfigErrorCase{"ListenAnInteger",
                        "metrics: {listen: {port: 9464}}\n",
                        {"c.yaml:1:19: metrics.listen must be a string, not a map"}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Signing, ConfigErrorTest,
    testing::Values(
        ConfigErrorCase{"KeysNotAList",
                        "signing: {publicKeys: /etc/palisade/key.pem}\n",
                        {"c.yaml:1:23: signing.publicKeys must be a list, not "
                         "\"/etc/palisade/key.pem\""}},
        ConfigErrorCase{"RelativeKey",
                        "signing:\n  publicKeys: [key.pem]\n",
                        {"c.yaml:2:16: signing.publicKeys[0] must be an absolute path, not "
                         "\"key.pem\""}},
        ConfigErrorCase{"RequiredNotABool",
                        "signing: {required: yes}\n",
                        {"c.yaml:1:21: signing.required must be true or false, not \"yes\""}},
        ConfigErrorCase{"RequiredQuoted",
                        "signing: {required: \"true\"}\n",
                        {"c.yaml:1:21: signing.required must be true or false, not \"true\""}},
        ConfigErrorCase{"RequiredWithoutKeys",
                        "signing:\n  required: true\n",
                        {"c.yaml:2:13: signing.required needs at least one key in "
                         "signing.publicKeys"}},
        ConfigErrorCase{"RelativeRecordDir",
                        "signing: {recordDir: signing}\n",
                        {"c.yaml:1:22: signing.recordDir must be an absolute path, not "
                         "\"signing\""}},
        ConfigErrorCase{"UnknownKey",
                        "signing: {publicKey: /k.pem}\n",
                        {"c.yaml:1:11: unknown key \"publicKey\" in signing (did you mean "
                         "\"publicKeys\"?)"}}),
    caseName);

TEST(ConfigLoader, ReportsEveryProblemInOrder) {
    Diagnostics errors;
    parseConfigText("signing: {required: maybe}\npolicyDir: rel\ndefaults: {unmatched: x}\n",
                    "c.yaml", errors);
    EXPECT_THAT(problems(errors),
                ElementsAre("c.yaml:1:21: signing.required must be true or false, not \"maybe\"",
                            "c.yaml:2:12: policyDir must be an absolute path, not \"rel\"",
                            "c.yaml:3:23: defaults.unmatched must be allow, audit or deny, not "
                            "\"x\""));
}

TEST(ConfigLoader, KeepsEarlierDiagnostics) {
    Diagnostics errors{{{"other.yaml", 1, 1}, "earlier"}};
    Config c = parseConfigText("stateDir: /x\n", "c.yaml", errors);
    EXPECT_EQ(c.stateDir, "/x");
    EXPECT_EQ(errors.size(), 1u);
}

TEST(ConfigLoader, MissingFileIsAnError) {
    Diagnostics errors;
    Config c = loadConfigFile("/nonexistent/palisade.yaml", errors);
    EXPECT_THAT(problems(errors),
                ElementsAre("/nonexistent/palisade.yaml: cannot open: No such file or directory"));
    expectDefaults(c);
}

}  // namespace
}  // namespace palisade
