#include "policy/policy_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace palisade {
namespace {

namespace fs = std::filesystem;
using testing::ElementsAre;
using testing::IsEmpty;

std::vector<std::string> problems(const Diagnostics& errors) {
    std::vector<std::string> out;
    for (const Diagnostic& d : errors) out.push_back(d.str());
    return out;
}

std::string cidrs(const std::vector<Cidr>& list) {
    std::string out;
    for (const Cidr& c : list) out += (out.empty() ? "" : " ") + c.str();
    return out;
}

// Lines 1-5; the spec's body starts on line 6.
std::string withSpec(const std::string& body, const std::string& name = "api") {
    return "apiVersion: palisade.dev/v1\n"
           "kind: ContainerPolicy\n"
           "metadata:\n"
           "  name: " +
           name + "\nspec:\n" + body;
}

// The egress list's items start on line 8.
std::string withEgress(const std::string& items) {
    return withSpec("  selector: {name: \"api*\"}\n  egress:\n" + items);
}

// The ports list's items start on line 10.
std::string withPorts(const std::string& items) {
    return withEgress("    - toCIDR: [10.0.0.0/8]\n      ports:\n" + items);
}

struct ErrorCase {
    std::string name;
    std::string yaml;
    std::vector<std::string> errors;
};

std::ostream& operator<<(std::ostream& os, const ErrorCase& c) { return os << c.name; }

std::string caseName(const testing::TestParamInfo<ErrorCase>& info) { return info.param.name; }

class PolicyErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(PolicyErrorTest, ReportsEveryProblemWhereItIs) {
    PolicyFile file = parsePolicyText(GetParam().yaml, "p.yaml");
    EXPECT_EQ(problems(file.errors), GetParam().errors);
    EXPECT_FALSE(file.valid());
    EXPECT_THAT(file.policies, IsEmpty());
}

const std::string kBody = "  selector: {name: api}\n";

INSTANTIATE_TEST_SUITE_P(
    Document, PolicyErrorTest,
    testing::Values(
        ErrorCase{"SyntaxError",
                  "apiVersion: palisade.dev/v1\nkind: [ContainerPolicy\nmetadata: {name: a}\n",
                  {"p.yaml:3:9: YAML syntax error: did not find expected ',' or ']' (while "
                   "parsing a flow sequence)"}},
        ErrorCase{"NotAMap",
                  "- apiVersion\n- kind\n",
                  {"p.yaml:1:1: a policy document must be a map, not a list"}},
        ErrorCase{"MissingApiVersion",
                  "kind: ContainerPolicy\nmetadata: {name: api}\nspec:\n" + kBody,
                  {"p.yaml:1:1: apiVersion is required"}},
        ErrorCase{"WrongApiVersion",
                  "apiVersion: palisade.dev/v2\nkind: ContainerPolicy\nmetadata: {name: api}\n"
                  "spec:\n" +
                      kBody,
                  {"p.yaml:1:13: apiVersion must be palisade.dev/v1, not \"palisade.dev/v2\""}},
        ErrorCase{"MissingKind",
                  "apiVersion: palisade.dev/v1\nmetadata: {name: api}\nspec:\n" + kBody,
                  {"p.yaml:1:1: kind is required"}},
        ErrorCase{"WrongKind",
                  "apiVersion: palisade.dev/v1\nkind: NetworkPolicy\nmetadata: {name: api}\n"
                  "spec:\n" +
                      kBody,
                  {"p.yaml:2:7: kind must be ContainerPolicy or PolicyTombstone, not "
                   "\"NetworkPolicy\""}},
        ErrorCase{"MissingMetadataAndSpec",
                  "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\n",
                  {"p.yaml:1:1: metadata is required", "p.yaml:1:1: spec is required"}},
        ErrorCase{
            "MissingName",
            "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {}\nspec:\n" + kBody,
            {"p.yaml:3:11: metadata.name is required"}},
        ErrorCase{"MetadataWithoutValue",
                  "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata:\nspec:\n" + kBody,
                  {"p.yaml:3:1: metadata has no value"}},
        ErrorCase{"UnknownMetadataKey",
                  "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata:\n  name: api\n"
                  "  namespace: prod\nspec:\n" +
                      kBody,
                  {"p.yaml:5:3: unknown key \"namespace\" in metadata (expected name or "
                   "version)"}},
        ErrorCase{"UnknownTopLevelKey",
                  withSpec(kBody) + "status: {}\n",
                  {"p.yaml:7:1: unknown key \"status\" at the top level (expected apiVersion, "
                   "kind, metadata or spec)"}},
        ErrorCase{"DuplicateKey",
                  withSpec(kBody) + "kind: ContainerPolicy\n",
                  {"p.yaml:7:1: duplicate key \"kind\" at the top level (first at line 2)"}},
        ErrorCase{"SpecIsAList",
                  withSpec("  - selector: {name: api}\n"),
                  {"p.yaml:6:3: spec must be a map, not a list"}}),
    caseName);

// metadata.version, docs/signing.md#versions.
ErrorCase badVersion(const std::string& testName, const std::string& version,
                     const std::string& error) {
    return {testName,
            "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata:\n  name: api\n"
            "  version: " +
                version + "\nspec:\n  selector: {name: api}\n",
            {"p.yaml:5:12: " + error}};
}

const std::string kTombstoneHead = "apiVersion: palisade.dev/v1\nkind: PolicyTombstone\n";

INSTANTIATE_TEST_SUITE_P(
    Version, PolicyErrorTest,
    testing::Values(
        badVersion("Zero", "0", "metadata.version must be a positive integer, not 0"),
        badVersion("Negative", "-3", "metadata.version must be a positive integer, not -3"),
        badVersion("NotANumber", "v2", "metadata.version must be an integer, not \"v2\""),
        badVersion("AFraction", "1.5", "metadata.version must be an integer, not \"1.5\""),
        ErrorCase{"TombstoneWithoutVersion",
                  kTombstoneHead + "metadata: {name: api}\n",
                  {"p.yaml:3:11: metadata.version is required"}},
        ErrorCase{"TombstoneWithoutName",
                  kTombstoneHead + "metadata: {version: 2}\n",
                  {"p.yaml:3:11: metadata.name is required"}},
        ErrorCase{"TombstoneWithASpec",
                  kTombstoneHead + "metadata: {name: api, version: 2}\nspec:\n" + kBody,
                  {"p.yaml:4:1: unknown key \"spec\" at the top level (expected apiVersion, "
                   "kind or metadata)"}},
        ErrorCase{
            "TombstoneAndPolicyOfOneName",
            withSpec(kBody) + "---\n" + kTombstoneHead + "metadata: {name: api, version: 2}\n",
            {"p.yaml:10:18: duplicate policy name \"api\" (first defined at p.yaml:4:9)"}}),
    caseName);

ErrorCase badName(const std::string& testName, const std::string& name) {
    return {testName,
            "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata:\n  name: " + name +
                "\nspec:\n  selector: {name: api}\n",
            {"p.yaml:4:9: invalid policy name \"" + name +
             "\": use 1-63 lowercase letters, digits and '-', starting and ending with a letter "
             "or digit"}};
}

INSTANTIATE_TEST_SUITE_P(Name, PolicyErrorTest,
                         testing::Values(badName("Uppercase", "Api"),
                                         badName("Underscore", "web_api"),
                                         badName("LeadingDash", "-api"),
                                         badName("TrailingDash", "api-"), badName("Dot", "api.v1"),
                                         badName("TooLong", std::string(64, 'a')),
                                         ErrorCase{"Empty",
                                                   "apiVersion: palisade.dev/v1\nkind: "
                                                   "ContainerPolicy\nmetadata:\n  name: \"\"\n"
                                                   "spec:\n  selector: {name: api}\n",
                                                   {"p.yaml:4:9: invalid policy name \"\": use "
                                                    "1-63 lowercase letters, digits and '-', "
                                                    "starting and ending with a letter or digit"}},
                                         ErrorCase{"AMap",
                                                   "apiVersion: palisade.dev/v1\nkind: "
                                                   "ContainerPolicy\nmetadata:\n  name: {a: b}\n"
                                                   "spec:\n  selector: {name: api}\n",
                                                   {"p.yaml:4:9: metadata.name must be a string, "
                                                    "not a map"}}),
                         caseName);

INSTANTIATE_TEST_SUITE_P(
    Selector, PolicyErrorTest,
    testing::Values(
        ErrorCase{
            "Missing", withSpec("  mode: audit\n"), {"p.yaml:6:3: spec.selector is required"}},
        ErrorCase{"Empty",
                  withSpec("  selector: {}\n"),
                  {"p.yaml:6:13: empty selector: a policy must select something (write name: "
                   "\"*\" for every container)"}},
        ErrorCase{"OnlyEmptyLabels",
                  withSpec("  selector: {labels: {}}\n"),
                  {"p.yaml:6:13: empty selector: a policy must select something (write name: "
                   "\"*\" for every container)"}},
        ErrorCase{"NoValue",
                  withSpec("  selector:\n  mode: audit\n"),
                  {"p.yaml:6:3: spec.selector has no value"}},
        ErrorCase{"AList",
                  withSpec("  selector: [api]\n"),
                  {"p.yaml:6:13: spec.selector must be a map, not a list"}},
        ErrorCase{"UnknownKey",
                  withSpec("  selector: {nmae: api}\n"),
                  {"p.yaml:6:14: unknown key \"nmae\" in spec.selector (did you mean \"name\"?)"}},
        ErrorCase{"EmptyGlob",
                  withSpec("  selector: {name: \"\"}\n"),
                  {"p.yaml:6:20: spec.selector.name must not be empty"}},
        ErrorCase{"UnclosedBracket",
                  withSpec("  selector: {name: \"api-[0-9\"}\n"),
                  {"p.yaml:6:20: invalid glob \"api-[0-9\" in spec.selector.name: '[' is never "
                   "closed"}},
        ErrorCase{"UnclosedBracketInId",
                  withSpec("  selector: {id: \"[]abc\"}\n"),
                  {"p.yaml:6:18: invalid glob \"[]abc\" in spec.selector.id: '[' is never "
                   "closed"}},
        ErrorCase{"NamespaceNotAString",
                  withSpec("  selector: {namespace: [prod]}\n"),
                  {"p.yaml:6:25: spec.selector.namespace must be a string, not a list"}},
        ErrorCase{"UnknownRuntime",
                  withSpec("  selector: {runtime: rkt}\n"),
                  {"p.yaml:6:23: spec.selector.runtime must be docker, containerd, cri-o or "
                   "podman (or a glob matching one), not \"rkt\""}},
        ErrorCase{"RuntimeGlobMatchingNothing",
                  withSpec("  selector: {runtime: \"lxc*\"}\n"),
                  {"p.yaml:6:23: spec.selector.runtime must be docker, containerd, cri-o or "
                   "podman (or a glob matching one), not \"lxc*\""}},
        ErrorCase{"MatchLabelsValueIsNotAGlob",
                  withSpec("  selector:\n    matchLabels: {app: \"api*\", \"-x\": a}\n"),
                  {"p.yaml:7:24: invalid label value \"api*\": it must be empty or at most 63 "
                   "characters: alphanumerics, '-', '_' or '.', starting and ending with an "
                   "alphanumeric in spec.selector.matchLabels.app",
                   "p.yaml:7:32: invalid label key \"-x\": the name must be at most 63 "
                   "characters: alphanumerics, '-', '_' or '.', starting and ending with an "
                   "alphanumeric in spec.selector.matchLabels"}},
        ErrorCase{"MatchLabelsKeyPrefix",
                  withSpec("  selector:\n    matchLabels: {Example.com/app: a}\n"),
                  {"p.yaml:7:19: invalid label key \"Example.com/app\": its prefix must be a DNS "
                   "subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters) in "
                   "spec.selector.matchLabels"}},
        ErrorCase{"ExpressionOperatorUnknown",
                  withSpec("  selector:\n    matchExpressions:\n      - {key: app, operator: in, "
                           "values: [a]}\n"),
                  {"p.yaml:8:30: spec.selector.matchExpressions[0].operator must be In, NotIn, "
                   "Exists or DoesNotExist, not \"in\""}},
        ErrorCase{"ExpressionInWithoutValues",
                  withSpec("  selector:\n    matchExpressions:\n      - {key: app, operator: In}\n"
                           "      - {key: app, operator: NotIn, values: []}\n"),
                  {"p.yaml:8:30: In needs a non-empty values list",
                   "p.yaml:9:45: NotIn needs a non-empty values list"}},
        ErrorCase{"ExpressionExistsWithValues",
                  withSpec("  selector:\n    matchExpressions:\n      - {key: app, operator: "
                           "Exists, values: [a]}\n"),
                  {"p.yaml:8:46: Exists takes no values"}},
        ErrorCase{"ExpressionMissingKeyAndBadValue",
                  withSpec("  selector:\n    matchExpressions:\n      - {operator: In, values: "
                           "[\"a b\"]}\n"),
                  {"p.yaml:8:9: spec.selector.matchExpressions[0].key is required",
                   "p.yaml:8:33: invalid label value \"a b\": it must be empty or at most 63 "
                   "characters: alphanumerics, '-', '_' or '.', starting and ending with an "
                   "alphanumeric in spec.selector.matchExpressions[0].values[0]"}},
        ErrorCase{"NamespaceSelectorUnknownKey",
                  withSpec("  selector:\n    namespaceSelector: {matchLabel: {a: b}}\n"),
                  {"p.yaml:7:25: unknown key \"matchLabel\" in spec.selector.namespaceSelector "
                   "(did you mean \"matchLabels\"?)"}},
        ErrorCase{"OnlyEmptyMatchLabels",
                  withSpec("  selector: {matchLabels: {}, matchExpressions: []}\n"),
                  {"p.yaml:6:13: empty selector: a policy must select something (write name: "
                   "\"*\" for every container)"}},
        ErrorCase{"LabelsAList",
                  withSpec("  selector:\n    labels: [app]\n"),
                  {"p.yaml:7:13: spec.selector.labels must be a map, not a list"}},
        ErrorCase{"LabelBadGlob",
                  withSpec("  selector:\n    labels: {app: \"[\", tier: \"\"}\n"),
                  {"p.yaml:7:19: invalid glob \"[\" in spec.selector.labels.app: '[' is never "
                   "closed",
                   "p.yaml:7:30: spec.selector.labels.tier must not be empty"}},
        ErrorCase{"LabelDuplicate",
                  withSpec("  selector:\n    labels: {app: a, app: b}\n"),
                  {"p.yaml:7:22: duplicate key \"app\" in spec.selector.labels (first at line "
                   "7)"}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Egress, PolicyErrorTest,
    testing::Values(
        ErrorCase{"AMap",
                  withSpec("  selector: {name: api}\n  egress: {toCIDR: [10.0.0.0/8]}\n"),
                  {"p.yaml:7:11: spec.egress must be a list, not a map"}},
        ErrorCase{"NoValue",
                  withSpec("  selector: {name: api}\n  egress:\n"),
                  {"p.yaml:7:3: spec.egress has no value"}},
        ErrorCase{"RuleNotAMap",
                  withEgress("    - 10.0.0.0/8\n"),
                  {"p.yaml:8:7: spec.egress[0] must be a map, not \"10.0.0.0/8\""}},
        ErrorCase{"NoDestination",
                  withEgress("    - ports: [{port: 443}]\n"),
                  {"p.yaml:8:7: an egress rule needs toCIDR, toContainers or toFQDNs"}},
        ErrorCase{"BothDestinations",
                  withEgress("    - toCIDR: [10.0.0.0/8]\n      toContainers: {name: db}\n"),
                  {"p.yaml:8:7: a rule has only one of toCIDR, toContainers and toFQDNs"}},
        ErrorCase{"MisspeltKey",
                  withEgress("    - toCidr: [10.0.0.0/8]\n"),
                  {"p.yaml:8:7: unknown key \"toCidr\" in spec.egress[0] (did you mean "
                   "\"toCIDR\"?)",
                   "p.yaml:8:7: an egress rule needs toCIDR, toContainers or toFQDNs"}},
        ErrorCase{"HostBitsSet",
                  withEgress("    - toCIDR: [10.0.0.0/8, 10.0.0.1/8]\n"),
                  {"p.yaml:8:28: CIDR 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"}},
        ErrorCase{"NotAnAddress",
                  withEgress("    - toCIDR: [\"2001:db8::/48\", example.com]\n"),
                  {"p.yaml:8:33: invalid CIDR \"example.com\": \"example.com\" is not an IPv4 or "
                   "IPv6 address"}},
        ErrorCase{"PrefixTooLong",
                  withEgress("    - toCIDR: [10.0.0.0/33]\n"),
                  {"p.yaml:8:16: invalid CIDR \"10.0.0.0/33\": prefix length 33 is out of range "
                   "for IPv4 (0-32)"}},
        ErrorCase{"CidrNotAList",
                  withEgress("    - toCIDR: 10.0.0.0/8\n"),
                  {"p.yaml:8:15: spec.egress[0].toCIDR must be a list, not \"10.0.0.0/8\""}},
        ErrorCase{"CidrItemAMap",
                  withEgress("    - toCIDR: [{cidr: 10.0.0.0/8}]\n"),
                  {"p.yaml:8:16: spec.egress[0].toCIDR[0] must be a string, not a map"}},
        ErrorCase{"CidrListEmpty",
                  withEgress("    - toCIDR: []\n"),
                  {"p.yaml:8:15: spec.egress[0].toCIDR must list at least one CIDR"}},
        ErrorCase{"BadExcept",
                  withEgress("    - toCIDR: [10.0.0.0/8]\n      except: [10.0.0.300/24]\n"),
                  {"p.yaml:9:16: invalid CIDR \"10.0.0.300/24\": \"10.0.0.300\" is not an IPv4 or "
                   "IPv6 address"}},
        ErrorCase{"ExceptOutsideToCIDR",
                  withEgress("    - toCIDR: [10.0.0.0/8, \"2001:db8::/32\"]\n"
                             "      except: [10.1.0.0/16, 192.168.0.0/16, \"2001:db9::/48\", "
                             "0.0.0.0/0]\n"),
                  {"p.yaml:9:29: except 192.168.0.0/16 is not inside any toCIDR of this rule",
                   "p.yaml:9:45: except 2001:db9::/48 is not inside any toCIDR of this rule",
                   "p.yaml:9:62: except 0.0.0.0/0 is not inside any toCIDR of this rule"}},
        ErrorCase{"ExceptWithoutToCIDR",
                  withEgress("    - toContainers: {name: db}\n      except: [10.0.0.0/8]\n"),
                  {"p.yaml:9:7: except needs toCIDR in the same rule"}},
        ErrorCase{"EmptyToContainers",
                  withEgress("    - toContainers: {}\n"),
                  {"p.yaml:8:21: empty selector: toContainers must select something (write "
                   "name: \"*\" for every container)"}},
        ErrorCase{"ToContainersBadGlobInSecondRule",
                  withEgress("    - toCIDR: [10.0.0.0/8]\n"
                             "    - toContainers: {pod: \"db-[\"}\n"),
                  {"p.yaml:9:27: invalid glob \"db-[\" in spec.egress[1].toContainers.pod: '[' is "
                   "never closed"}},
        ErrorCase{"ToContainersUnknownKey",
                  withEgress("    - toContainers: {image: postgres}\n"),
                  {"p.yaml:8:22: unknown key \"image\" in spec.egress[0].toContainers (expected "
                   "name, id, runtime, namespace, pod, labels, matchLabels, matchExpressions or "
                   "namespaceSelector)"}}),
    caseName);

// The toFQDNs list's items start on line 9, their values at column 22 (matchName)
// or 25 (matchPattern).
std::string withFqdns(const std::string& items) { return withEgress("    - toFQDNs:\n" + items); }

// A name of `length` characters: labels of 63 'a's, the last one shorter.
std::string longName(size_t length) {
    std::string name;
    while (name.size() + 64 < length) name += std::string(63, 'a') + ".";
    return name + std::string(length - name.size(), 'b');
}

const std::string kOneSupported =
    "matchPattern supports one leading \"*.\" label (e.g. \"*.example.com\")";

INSTANTIATE_TEST_SUITE_P(
    Fqdn, PolicyErrorTest,
    testing::Values(
        ErrorCase{"AndToCIDR",
                  withEgress("    - toCIDR: [10.0.0.0/8]\n"
                             "      toFQDNs: [{matchName: api.stripe.com}]\n"),
                  {"p.yaml:8:7: a rule has only one of toCIDR, toContainers and toFQDNs"}},
        ErrorCase{"AndToContainers",
                  withEgress("    - toContainers: {name: db}\n"
                             "      toFQDNs: [{matchName: api.stripe.com}]\n"),
                  {"p.yaml:8:7: a rule has only one of toCIDR, toContainers and toFQDNs"}},
        ErrorCase{"AllThree",
                  withEgress("    - toCIDR: [10.0.0.0/8]\n"
                             "      toContainers: {name: db}\n"
                             "      toFQDNs: [{matchName: api.stripe.com}]\n"),
                  {"p.yaml:8:7: a rule has only one of toCIDR, toContainers and toFQDNs"}},
        ErrorCase{"WithExcept",
                  withEgress("    - toFQDNs: [{matchName: api.stripe.com}]\n"
                             "      except: [10.0.0.0/8]\n"),
                  {"p.yaml:9:7: except needs toCIDR in the same rule"}},
        ErrorCase{"EmptyList",
                  withEgress("    - toFQDNs: []\n"),
                  {"p.yaml:8:16: spec.egress[0].toFQDNs must list at least one name or "
                   "pattern"}},
        ErrorCase{"NoValue",
                  withEgress("    - toFQDNs:\n      ports: [{port: 443}]\n"),
                  {"p.yaml:8:7: spec.egress[0].toFQDNs has no value"}},
        ErrorCase{"NotAList",
                  withEgress("    - toFQDNs: api.stripe.com\n"),
                  {"p.yaml:8:16: spec.egress[0].toFQDNs must be a list, not "
                   "\"api.stripe.com\""}},
        ErrorCase{"ItemAString",
                  withEgress("    - toFQDNs: [api.stripe.com]\n"),
                  {"p.yaml:8:17: spec.egress[0].toFQDNs[0] must be a map, not "
                   "\"api.stripe.com\""}},
        ErrorCase{"ItemEmpty",
                  withEgress("    - toFQDNs: [{}]\n"),
                  {"p.yaml:8:17: a toFQDNs entry needs matchName or matchPattern"}},
        ErrorCase{"MisspeltKey",
                  withEgress("    - toFQDNs: [{matchname: api.stripe.com}]\n"),
                  {"p.yaml:8:17: a toFQDNs entry needs matchName or matchPattern",
                   "p.yaml:8:18: unknown key \"matchname\" in spec.egress[0].toFQDNs[0] (did you "
                   "mean \"matchName\"?)"}},
        ErrorCase{"NameAndPattern",
                  withEgress("    - toFQDNs: [{matchName: a.com, matchPattern: \"*.a.com\"}]\n"),
                  {"p.yaml:8:17: a toFQDNs entry has either matchName or matchPattern, not "
                   "both"}},
        ErrorCase{"NameNotAString",
                  withFqdns("        - matchName: [api.stripe.com]\n"),
                  {"p.yaml:9:22: spec.egress[0].toFQDNs[0].matchName must be a string, not a "
                   "list"}},
        ErrorCase{"NameWithoutValue",
                  withFqdns("        - matchName:\n"),
                  {"p.yaml:9:11: spec.egress[0].toFQDNs[0].matchName has no value"}},
        ErrorCase{"EmptyNames",
                  withFqdns("        - matchName: \"\"\n"
                            "        - matchName: \".\"\n"
                            "        - matchPattern: \"\"\n"),
                  {"p.yaml:9:22: spec.egress[0].toFQDNs[0].matchName must not be empty",
                   "p.yaml:10:22: spec.egress[0].toFQDNs[1].matchName must not be empty",
                   "p.yaml:11:25: spec.egress[0].toFQDNs[2].matchPattern must not be empty"}},
        ErrorCase{
            "BadLabels",
            withFqdns("        - matchName: \"-api.example.com\"\n"
                      "        - matchName: \"API-.example.com\"\n"
                      "        - matchName: \"api..example.com\"\n"
                      "        - matchName: \".example.com\"\n"
                      "        - matchName: \"example.com..\"\n"
                      "        - matchName: \"api example.com\"\n"
                      "        - matchName: \"ex@mple.com\"\n"
                      "        - matchName: \"b\xC3\xBC"
                      "cher.de\"\n"),
            {"p.yaml:9:22: invalid DNS name \"-api.example.com\" in "
             "spec.egress[0].toFQDNs[0].matchName: label \"-api\" starts or ends with '-'",
             "p.yaml:10:22: invalid DNS name \"API-.example.com\" in "
             "spec.egress[0].toFQDNs[1].matchName: label \"api-\" starts or ends with '-'",
             "p.yaml:11:22: invalid DNS name \"api..example.com\" in "
             "spec.egress[0].toFQDNs[2].matchName: a label is empty (\"..\", or a leading dot)",
             "p.yaml:12:22: invalid DNS name \".example.com\" in "
             "spec.egress[0].toFQDNs[3].matchName: a label is empty (\"..\", or a leading dot)",
             "p.yaml:13:22: invalid DNS name \"example.com..\" in "
             "spec.egress[0].toFQDNs[4].matchName: a label is empty (\"..\", or a leading dot)",
             "p.yaml:14:22: invalid DNS name \"api example.com\" in "
             "spec.egress[0].toFQDNs[5].matchName: label \"api example\" has ' ' (a label has "
             "letters, digits, '-' and '_')",
             "p.yaml:15:22: invalid DNS name \"ex@mple.com\" in "
             "spec.egress[0].toFQDNs[6].matchName: label \"ex@mple\" has '@' (a label has "
             "letters, digits, '-' and '_')",
             "p.yaml:16:22: invalid DNS name \"b\xC3\xBC"
             "cher.de\" in "
             "spec.egress[0].toFQDNs[7].matchName: label \"b\xC3\xBC"
             "cher\" is not ASCII "
             "(write an international name in its xn-- form)"}},
        ErrorCase{
            "LabelTooLong",
            withFqdns("        - matchName: " + std::string(64, 'a') + ".com\n"),
            {"p.yaml:9:22: invalid DNS name \"" + std::string(64, 'a') +
             ".com\" in spec.egress[0].toFQDNs[0].matchName: label \"" + std::string(64, 'a') +
             "\" has 64 characters, more than the 63 of a DNS "
             "label"}},
        ErrorCase{"NameTooLong",
                  withFqdns("        - matchName: " + longName(254) + "\n"),
                  {"p.yaml:9:22: invalid DNS name \"" + longName(254) +
                   "\" in spec.egress[0].toFQDNs[0].matchName: 254 characters, more than the "
                   "253 of a DNS name"}},
        // Its shortest match, "x.<name>", would be 254 characters.
        ErrorCase{"PatternTooLong",
                  withFqdns("        - matchPattern: \"*." + longName(252) + "\"\n"),
                  {"p.yaml:9:25: invalid pattern \"*." + longName(252) +
                   "\" in spec.egress[0].toFQDNs[0].matchPattern: 254 characters, more than "
                   "the 253 of a DNS name"}},
        ErrorCase{"StarInName",
                  withFqdns("        - matchName: \"*.example.com\"\n"),
                  {"p.yaml:9:22: invalid DNS name \"*.example.com\" in "
                   "spec.egress[0].toFQDNs[0].matchName: matchName takes no '*'; write a "
                   "pattern in matchPattern (e.g. \"*.example.com\")"}},
        ErrorCase{
            "UnsupportedPatterns",
            withFqdns("        - matchPattern: \"*\"\n"
                      "        - matchPattern: \"*.\"\n"
                      "        - matchPattern: \"**.example.com\"\n"
                      "        - matchPattern: \"*.*.example.com\"\n"
                      "        - matchPattern: \"api.*.example.com\"\n"
                      "        - matchPattern: \"api*.example.com\"\n"
                      "        - matchPattern: \"*example.com\"\n"
                      "        - matchPattern: \"example.*\"\n"
                      "        - matchPattern: \"example.com\"\n"),
            {"p.yaml:9:25: invalid pattern \"*\" in spec.egress[0].toFQDNs[0].matchPattern: " +
                 kOneSupported,
             "p.yaml:10:25: invalid pattern \"*.\" in spec.egress[0].toFQDNs[1].matchPattern: " +
                 kOneSupported,
             "p.yaml:11:25: invalid pattern \"**.example.com\" in "
             "spec.egress[0].toFQDNs[2].matchPattern: " +
                 kOneSupported,
             "p.yaml:12:25: invalid pattern \"*.*.example.com\" in "
             "spec.egress[0].toFQDNs[3].matchPattern: " +
                 kOneSupported,
             "p.yaml:13:25: invalid pattern \"api.*.example.com\" in "
             "spec.egress[0].toFQDNs[4].matchPattern: " +
                 kOneSupported,
             "p.yaml:14:25: invalid pattern \"api*.example.com\" in "
             "spec.egress[0].toFQDNs[5].matchPattern: " +
                 kOneSupported,
             "p.yaml:15:25: invalid pattern \"*example.com\" in "
             "spec.egress[0].toFQDNs[6].matchPattern: " +
                 kOneSupported,
             "p.yaml:16:25: invalid pattern \"example.*\" in "
             "spec.egress[0].toFQDNs[7].matchPattern: " +
                 kOneSupported,
             "p.yaml:17:25: invalid pattern \"example.com\" in "
             "spec.egress[0].toFQDNs[8].matchPattern: " +
                 kOneSupported}},
        ErrorCase{"PatternBadLabel",
                  withFqdns("        - matchPattern: \"*.-api.example.com\"\n"
                            "        - matchPattern: \"*..example.com\"\n"),
                  {"p.yaml:9:25: invalid pattern \"*.-api.example.com\" in "
                   "spec.egress[0].toFQDNs[0].matchPattern: label \"-api\" starts or ends with "
                   "'-'",
                   "p.yaml:10:25: invalid pattern \"*..example.com\" in "
                   "spec.egress[0].toFQDNs[1].matchPattern: a label is empty (\"..\", or a "
                   "leading dot)"}},
        // "api_" is a good label ('_' may end one, '-' may not): the empty label
        // is the only problem, at the second entry.
        ErrorCase{"SecondEntryBad",
                  withFqdns("        - matchName: api.stripe.com\n"
                            "        - matchName: \"api_.stripe..com\"\n"),
                  {"p.yaml:10:22: invalid DNS name \"api_.stripe..com\" in "
                   "spec.egress[0].toFQDNs[1].matchName: a label is empty (\"..\", or a leading "
                   "dot)"}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Ports, PolicyErrorTest,
    testing::Values(
        ErrorCase{"NotAList",
                  withEgress("    - toCIDR: [10.0.0.0/8]\n      ports: {port: 443}\n"),
                  {"p.yaml:9:14: spec.egress[0].ports must be a list, not a map"}},
        ErrorCase{"PortZero",
                  withPorts("        - {port: 0}\n"),
                  {"p.yaml:10:18: port 0 is out of range (1-65535)"}},
        ErrorCase{"PortTooLarge",
                  withPorts("        - {port: 65536}\n"),
                  {"p.yaml:10:18: port 65536 is out of range (1-65535)"}},
        ErrorCase{"PortNegative",
                  withPorts("        - {port: -1}\n"),
                  {"p.yaml:10:18: port -1 is out of range (1-65535)"}},
        ErrorCase{"PortBeyondInt64",
                  withPorts("        - {port: 99999999999999999999}\n"),
                  {"p.yaml:10:18: port 99999999999999999999 is out of range (1-65535)"}},
        ErrorCase{"EndPortTooLarge",
                  withPorts("        - {port: 1, endPort: 70000}\n"),
                  {"p.yaml:10:30: endPort 70000 is out of range (1-65535)"}},
        ErrorCase{"EndPortBelowPort",
                  withPorts("        - {port: 5010, endPort: 5000}\n"),
                  {"p.yaml:10:33: endPort 5000 is less than port 5010"}},
        ErrorCase{"EndPortWithoutPort",
                  withPorts("        - {endPort: 5000, protocol: UDP}\n"),
                  {"p.yaml:10:12: endPort needs port (the start of the range)"}},
        ErrorCase{"IcmpWithPort",
                  withPorts("        - {port: 8, protocol: icmp}\n"),
                  {"p.yaml:10:12: ICMP has no ports"}},
        ErrorCase{"IcmpWithEndPort",
                  withPorts("        - {protocol: ICMP, endPort: 8}\n"),
                  {"p.yaml:10:28: ICMP has no ports"}},
        ErrorCase{"UnknownProtocol",
                  withPorts("        - {port: 132, protocol: SCTP}\n"),
                  {"p.yaml:10:33: spec.egress[0].ports[0].protocol must be TCP, UDP, ICMP or "
                   "ANY, not \"SCTP\""}},
        ErrorCase{"NamedPort",
                  withPorts("        - {port: 443}\n        - {port: https}\n"),
                  {"p.yaml:11:18: spec.egress[0].ports[1].port must be an integer, not "
                   "\"https\""}},
        ErrorCase{"QuotedPort",
                  withPorts("        - {port: \"443\"}\n"),
                  {"p.yaml:10:18: spec.egress[0].ports[0].port must be an integer, not the "
                   "string \"443\" (remove the quotes)"}},
        ErrorCase{"PortAList",
                  withPorts("        - {port: [443, 444]}\n"),
                  {"p.yaml:10:18: spec.egress[0].ports[0].port must be an integer, not a list"}},
        ErrorCase{"PortEntryAScalar",
                  withPorts("        - 443\n"),
                  {"p.yaml:10:11: spec.egress[0].ports[0] must be a map, not \"443\""}},
        ErrorCase{"UnknownPortKey",
                  withPorts("        - {port: 443, proto: TCP}\n"),
                  {"p.yaml:10:23: unknown key \"proto\" in spec.egress[0].ports[0] (did you mean "
                   "\"protocol\"?)"}}),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Spec, PolicyErrorTest,
    testing::Values(
        ErrorCase{"UnknownKey",
                  withSpec(kBody + "  egres: []\n"),
                  {"p.yaml:7:3: unknown key \"egres\" in spec (did you mean \"egress\"?)"}},
        ErrorCase{"BadMode",
                  withSpec(kBody + "  mode: block\n"),
                  {"p.yaml:7:9: spec.mode must be enforce or audit, not \"block\""}},
        ErrorCase{"ModeIsCaseSensitive",
                  withSpec(kBody + "  mode: Enforce\n"),
                  {"p.yaml:7:9: spec.mode must be enforce or audit, not \"Enforce\""}},
        ErrorCase{"ModeWithoutValue",
                  withSpec(kBody + "  mode:\n"),
                  {"p.yaml:7:3: spec.mode has no value"}},
        ErrorCase{"BadRawSockets",
                  withSpec(kBody + "  rawSockets: maybe\n"),
                  {"p.yaml:7:15: spec.rawSockets must be deny or allow, not \"maybe\""}},
        ErrorCase{"BadSetuid",
                  withSpec(kBody + "  exec: {setuid: kill}\n"),
                  {"p.yaml:7:18: spec.exec.setuid must be allow, flag or deny, not \"kill\""}},
        ErrorCase{"UnknownExecKey",
                  withSpec(kBody + "  exec: {setgid: deny}\n"),
                  {"p.yaml:7:10: unknown key \"setgid\" in spec.exec (did you mean \"setuid\"?)"}},
        ErrorCase{"ExecNotAMap",
                  withSpec(kBody + "  exec: deny\n"),
                  {"p.yaml:7:9: spec.exec must be a map, not \"deny\""}},
        ErrorCase{"DuplicateKey",
                  withSpec(kBody + "  mode: audit\n  mode: enforce\n"),
                  {"p.yaml:8:3: duplicate key \"mode\" in spec (first at line 7)"}},
        ErrorCase{"DuplicateNameInFile",
                  withSpec(kBody) + "---\n" + withSpec(kBody),
                  {"p.yaml:11:9: duplicate policy name \"api\" (first defined at p.yaml:4:9)"}}),
    caseName);

// The bind list's items start on line 8.
std::string withBind(const std::string& items) {
    return withSpec("  selector: {name: \"api*\"}\n  bind:\n" + items);
}

INSTANTIATE_TEST_SUITE_P(
    Bind, PolicyErrorTest,
    testing::Values(
        ErrorCase{"AMap",
                  withSpec(kBody + "  bind: {addresses: [127.0.0.1]}\n"),
                  {"p.yaml:7:9: spec.bind must be a list, not a map"}},
        ErrorCase{"NoAddress",
                  withBind("    - ports: [{port: 80}]\n"),
                  {"p.yaml:8:7: a bind rule needs address or addresses"}},
        ErrorCase{"AddressAndAddresses",
                  withBind("    - {address: 127.0.0.1, addresses: [\"::1\"]}\n"),
                  {"p.yaml:8:7: a bind rule has either address or addresses, not both"}},
        ErrorCase{"AddressIsAList",
                  withBind("    - address: [127.0.0.1]\n"),
                  {"p.yaml:8:16: spec.bind[0].address must be a string, not a list"}},
        ErrorCase{"EmptyAddresses",
                  withBind("    - addresses: []\n"),
                  {"p.yaml:8:18: spec.bind[0].addresses must list at least one CIDR"}},
        ErrorCase{"BadAddress",
                  withBind("    - addresses: [127.0.0.300]\n"),
                  {"p.yaml:8:19: invalid CIDR \"127.0.0.300\": \"127.0.0.300\" is not an IPv4 or "
                   "IPv6 address"}},
        ErrorCase{"ExceptOutside",
                  withBind("    - addresses: [10.0.0.0/8]\n      except: [192.168.0.0/16]\n"),
                  {"p.yaml:9:16: except 192.168.0.0/16 is not inside any address of this "
                   "rule"}},
        ErrorCase{"UnknownKey",
                  withBind("    - addresses: [127.0.0.1]\n      toCIDR: [10.0.0.0/8]\n"),
                  {"p.yaml:9:7: unknown key \"toCIDR\" in spec.bind[0] (expected address, "
                   "addresses, except or ports)"}},
        ErrorCase{"BadPort",
                  withBind("    - addresses: [127.0.0.1]\n      ports: [{port: 70000}]\n"),
                  {"p.yaml:9:22: port 70000 is out of range (1-65535)"}}),
    caseName);

TEST(PolicyParser, ReadsBindRules) {
    // SPEC.md's form, one address, and a list.
    PolicyFile f = parsePolicyText(withBind("    - {address: 127.0.0.1, ports: [{port: 8080, "
                                            "protocol: TCP}]}\n"
                                            "    - addresses: [10.0.0.0/8, \"::1\"]\n"
                                            "      except: [10.9.0.0/16]\n"),
                                   "p.yaml");
    ASSERT_THAT(problems(f.errors), IsEmpty());
    ASSERT_EQ(f.policies.size(), 1u);
    const auto& bind = f.policies[0].bind;
    ASSERT_TRUE(bind.has_value());
    ASSERT_EQ(bind->size(), 2u);
    EXPECT_EQ(cidrs((*bind)[0].addresses), "127.0.0.1/32");
    EXPECT_EQ(cidrs((*bind)[1].addresses), "10.0.0.0/8 ::1/128");
    ASSERT_EQ((*bind)[0].ports.size(), 1u);
    EXPECT_EQ((*bind)[0].ports[0].port, 8080);
    EXPECT_EQ((*bind)[0].where.line, 8u);
    EXPECT_EQ(cidrs((*bind)[1].except), "10.9.0.0/16");
    EXPECT_TRUE((*bind)[1].ports.empty());

    // Absent: binds are not judged; empty: nothing may be bound.
    EXPECT_FALSE(parsePolicyText(withSpec(kBody), "p.yaml").policies[0].bind.has_value());
    PolicyFile closed = parsePolicyText(withSpec(kBody + "  bind: []\n"), "p.yaml");
    ASSERT_EQ(closed.policies.size(), 1u);
    ASSERT_TRUE(closed.policies[0].bind.has_value());
    EXPECT_TRUE(closed.policies[0].bind->empty());
}

TEST(PolicyParser, ReportsEveryProblemOfAFileInOrder) {
    const std::string text = withSpec(
                                 "  selector: {runtime: rkt}\n"
                                 "  mode: block\n"
                                 "  egress:\n"
                                 "    - toCIDR: [10.0.0.1/8]\n"
                                 "      ports: [{port: 0}]\n") +
                             "---\n" +
                             "apiVersion: v1\nkind: ContainerPolicy\nmetadata: {name: b}\n"
                             "spec: {selector: {name: b}, rawSockets: yes}\n";
    PolicyFile file = parsePolicyText(text, "p.yaml");
    EXPECT_THAT(problems(file.errors),
                ElementsAre("p.yaml:6:23: spec.selector.runtime must be docker, containerd, "
                            "cri-o or podman (or a glob matching one), not \"rkt\"",
                            "p.yaml:7:9: spec.mode must be enforce or audit, not \"block\"",
                            "p.yaml:9:16: CIDR 10.0.0.1/8 has host bits set (did you mean "
                            "10.0.0.0/8?)",
                            "p.yaml:10:22: port 0 is out of range (1-65535)",
                            "p.yaml:12:13: apiVersion must be palisade.dev/v1, not \"v1\"",
                            "p.yaml:15:41: spec.rawSockets must be deny or allow, not \"yes\""));
}

TEST(PolicyParser, FileWithAnyProblemContributesNoPolicy) {
    PolicyFile file = parsePolicyText(
        withSpec(kBody) + "---\n" + withSpec(kBody + "  mode: x\n", "web"), "p.yaml");
    EXPECT_EQ(file.errors.size(), 1u);
    EXPECT_THAT(file.policies, IsEmpty());
}

TEST(PolicyParser, AppliesDefaults) {
    PolicyFile file = parsePolicyText(withSpec(kBody), "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    ASSERT_EQ(file.policies.size(), 1u);
    const Policy& p = file.policies[0];
    EXPECT_EQ(p.name, "api");
    EXPECT_EQ(p.selector.name, "api");
    EXPECT_EQ(p.mode, Mode::Enforce);
    EXPECT_THAT(p.egress, IsEmpty());
    EXPECT_EQ(p.rawSockets, RawSockets::Deny);
    EXPECT_EQ(p.execSetuid, ExecAction::Flag);
    EXPECT_EQ(p.where.file, "p.yaml");
    EXPECT_EQ(p.where.line, 4);
    EXPECT_EQ(p.where.column, 9);
}

TEST(PolicyParser, ReadsVersionsAndTombstones) {
    PolicyFile file = parsePolicyText(
        "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: api, version: 7}\n"
        "spec:\n" +
            kBody + "---\n" + kTombstoneHead + "metadata:\n  name: web\n  version: 3\n",
        "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    ASSERT_EQ(file.policies.size(), 1u);
    EXPECT_EQ(file.policies[0].version, 7u);
    ASSERT_EQ(file.tombstones.size(), 1u);
    EXPECT_EQ(file.tombstones[0].name, "web");
    EXPECT_EQ(file.tombstones[0].version, 3u);
    EXPECT_EQ(file.tombstones[0].where.line, 10);
    EXPECT_EQ(parsePolicyText(withSpec(kBody), "p.yaml").policies[0].version, 0u)
        << "no version: 0";
}

TEST(PolicyParser, ReadsEveryField) {
    const std::string text = withSpec(R"(  selector:
    name: "web-[0-9]*"
    id: "3f2a*"
    runtime: "cri-*"
    namespace: prod
    pod: "web-*"
    labels: {app: web, "palisade.dev/tier": "front*"}
  mode: audit
  egress:
    - toCIDR: ["0.0.0.0/0", "::/0"]
      except: ["10.0.0.0/8", "fd00::/8", "10.0.0.0/8"]
      ports:
        - {port: 443}
        - {port: 5000, endPort: 5010, protocol: udp}
        - {protocol: Icmp}
        - {port: 8080, protocol: any}
        - {protocol: TCP}
        - {port: 1, endPort: 65535, protocol: tcp}
    - toContainers:
        labels: {app: db}
        namespace: "prod-*"
  rawSockets: allow
  exec: {setuid: deny}
)");
    PolicyFile file = parsePolicyText(text, "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    ASSERT_EQ(file.policies.size(), 1u);
    const Policy& p = file.policies[0];
    EXPECT_EQ(p.selector.name, "web-[0-9]*");
    EXPECT_EQ(p.selector.id, "3f2a*");
    EXPECT_EQ(p.selector.runtime, "cri-*");
    EXPECT_EQ(p.selector.namespace_, "prod");
    EXPECT_EQ(p.selector.pod, "web-*");
    EXPECT_EQ(p.selector.labels, (std::map<std::string, std::string>{
                                     {"app", "web"}, {"palisade.dev/tier", "front*"}}));
    EXPECT_EQ(p.selector.where.line, 7);
    EXPECT_EQ(p.mode, Mode::Audit);
    EXPECT_EQ(p.rawSockets, RawSockets::Allow);
    EXPECT_EQ(p.execSetuid, ExecAction::Deny);
    ASSERT_EQ(p.egress.size(), 2u);

    const EgressRule& cidrRule = p.egress[0];
    EXPECT_EQ(cidrs(cidrRule.toCIDR), "0.0.0.0/0 ::/0");
    EXPECT_EQ(cidrs(cidrRule.except), "10.0.0.0/8 fd00::/8 10.0.0.0/8");
    EXPECT_FALSE(cidrRule.toContainers);
    EXPECT_EQ(cidrRule.where.line, 15);
    EXPECT_EQ(cidrRule.where.column, 7);
    EXPECT_EQ(cidrRule.toCIDR[1].line, 15u);
    EXPECT_EQ(cidrRule.toCIDR[1].column, 29u);
    ASSERT_EQ(cidrRule.ports.size(), 6u);
    const auto& ports = cidrRule.ports;
    EXPECT_EQ(ports[0].port, 443);
    EXPECT_FALSE(ports[0].endPort);
    EXPECT_FALSE(ports[0].protocol);
    EXPECT_EQ(ports[0].where.line, 18);
    EXPECT_EQ(ports[0].where.column, 11);
    EXPECT_EQ(ports[1].port, 5000);
    EXPECT_EQ(ports[1].endPort, 5010);
    EXPECT_EQ(ports[1].protocol, Protocol::UDP);
    EXPECT_FALSE(ports[2].port);
    EXPECT_EQ(ports[2].protocol, Protocol::ICMP);
    EXPECT_EQ(ports[3].port, 8080);
    EXPECT_EQ(ports[3].protocol, Protocol::ANY);
    EXPECT_FALSE(ports[4].port);
    EXPECT_EQ(ports[4].protocol, Protocol::TCP);
    EXPECT_EQ(ports[5].port, 1);
    EXPECT_EQ(ports[5].endPort, 65535);

    const EgressRule& peerRule = p.egress[1];
    EXPECT_THAT(peerRule.toCIDR, IsEmpty());
    EXPECT_THAT(peerRule.except, IsEmpty());
    EXPECT_THAT(peerRule.ports, IsEmpty());
    ASSERT_TRUE(peerRule.toContainers);
    EXPECT_EQ(peerRule.toContainers->labels, (std::map<std::string, std::string>{{"app", "db"}}));
    EXPECT_EQ(peerRule.toContainers->namespace_, "prod-*");
    EXPECT_FALSE(peerRule.toContainers->name);
    EXPECT_EQ(peerRule.toContainers->where.line, 25);
}

TEST(PolicyParser, AcceptsGlobsWithBracketExpressions) {
    for (const char* glob : {"api-[0-9]", "api-[!x]*", "[]]x", "[[:alpha:]]*", "a\\[b"}) {
        PolicyFile file = parsePolicyText(
            withSpec("  selector: {name: '" + std::string(glob) + "'}\n"), "p.yaml");
        EXPECT_THAT(problems(file.errors), IsEmpty()) << glob;
    }
}

TEST(PolicyParser, AcceptsEveryRuntime) {
    for (const char* runtime : {"docker", "containerd", "cri-o", "podman", "*", "cri-?"}) {
        PolicyFile file = parsePolicyText(
            withSpec("  selector: {runtime: \"" + std::string(runtime) + "\"}\n"), "p.yaml");
        EXPECT_THAT(problems(file.errors), IsEmpty()) << runtime;
    }
}

TEST(PolicyParser, SkipsEmptyDocuments) {
    const std::string text =
        "---\n# nothing here\n---\n" + withSpec(kBody) + "---\n" + withSpec(kBody, "web") + "---\n";
    PolicyFile file = parsePolicyText(text, "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    ASSERT_EQ(file.policies.size(), 2u);
    EXPECT_EQ(file.policies[0].name, "api");
    EXPECT_EQ(file.policies[1].name, "web");
    EXPECT_EQ(file.policies[1].where.line, 14);
}

TEST(PolicyParser, EmptyFileIsValidAndEmpty) {
    PolicyFile file = parsePolicyText("", "empty.yaml");
    EXPECT_TRUE(file.valid());
    EXPECT_THAT(file.policies, IsEmpty());
    EXPECT_EQ(file.path, "empty.yaml");
    EXPECT_EQ(file.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(PolicyParser, DigestCoversTheExactBytes) {
    EXPECT_EQ(parsePolicyText("abc", "p.yaml").sha256,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_NE(parsePolicyText(withSpec(kBody), "p.yaml").sha256,
              parsePolicyText(withSpec(kBody) + "\n", "p.yaml").sha256);
}

TEST(PolicyParser, ParsesTheSpecExample) {
    const std::string path = PALISADE_SOURCE_DIR "/tests/data/policies/spec-example.yaml";
    PolicyFile file = parsePolicyFile(path);
    ASSERT_THAT(problems(file.errors), IsEmpty());
    EXPECT_EQ(file.path, path);
    EXPECT_EQ(file.sha256.size(), 64u);
    ASSERT_EQ(file.policies.size(), 1u);
    const Policy& p = file.policies[0];
    EXPECT_EQ(p.name, "api");
    EXPECT_EQ(p.selector.name, "api*");
    EXPECT_EQ(p.selector.id, "3f2a*");
    EXPECT_EQ(p.selector.runtime, "docker");
    EXPECT_EQ(p.selector.namespace_, "prod");
    EXPECT_EQ(p.selector.pod, "api-*");
    EXPECT_EQ(p.selector.labels, (std::map<std::string, std::string>{{"app", "api"}}));
    EXPECT_EQ(p.mode, Mode::Enforce);
    EXPECT_EQ(p.rawSockets, RawSockets::Deny);
    EXPECT_EQ(p.execSetuid, ExecAction::Flag);
    ASSERT_EQ(p.egress.size(), 2u);
    EXPECT_EQ(cidrs(p.egress[0].toCIDR), "52.94.0.0/16 2001:db8:10::/48");
    EXPECT_EQ(cidrs(p.egress[0].except), "52.94.1.0/24");
    ASSERT_EQ(p.egress[0].ports.size(), 2u);
    EXPECT_EQ(p.egress[0].ports[0].port, 443);
    EXPECT_EQ(p.egress[0].ports[0].protocol, Protocol::TCP);
    EXPECT_EQ(p.egress[0].ports[1].port, 5000);
    EXPECT_EQ(p.egress[0].ports[1].endPort, 5010);
    EXPECT_EQ(p.egress[0].ports[1].protocol, Protocol::UDP);
    ASSERT_TRUE(p.egress[1].toContainers);
    EXPECT_EQ(p.egress[1].toContainers->name, "db");
    ASSERT_EQ(p.egress[1].ports.size(), 1u);
    EXPECT_EQ(p.egress[1].ports[0].port, 5432);
    EXPECT_EQ(p.egress[1].ports[0].protocol, Protocol::TCP);
}

TEST(PolicyParser, UnreadableFileIsOneDiagnostic) {
    PolicyFile file = parsePolicyFile("/nonexistent/p.yaml");
    EXPECT_THAT(problems(file.errors),
                ElementsAre("/nonexistent/p.yaml: cannot open: No such file or directory"));
    EXPECT_EQ(file.path, "/nonexistent/p.yaml");
}

class PolicyPathsTest : public testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = fs::temp_directory_path() / "palisade-policy-XXXXXX";
        ASSERT_TRUE(mkdtemp(pattern.data()));
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        fs::create_directories((dir_ / name).parent_path());
        std::ofstream(dir_ / name) << text;
        return (dir_ / name).string();
    }

    static std::string policyNamed(const std::string& name) {
        return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata:\n  name: " + name +
               "\nspec:\n  selector: {name: " + name + "}\n";
    }

    static std::vector<std::string> names(const std::vector<PolicyFile>& files) {
        std::vector<std::string> out;
        for (const PolicyFile& file : files) {
            for (const Policy& policy : file.policies) out.push_back(policy.name);
        }
        return out;
    }

    fs::path dir_;
};

// A reload re-reads every file, but parses only the ones whose bytes changed.
TEST_F(PolicyPathsTest, ReusesFilesWhoseBytesDidNotChange) {
    const std::string a = write("a.yaml", policyNamed("a"));
    write("b.yaml", policyNamed("b"));
    Diagnostics errors;
    std::map<std::string, PolicyFile> known;
    for (auto& f : loadPolicyPaths({dir_.string()}, errors)) known[f.path] = f;
    known[a].policies[0].mode = Mode::Audit;  // marks the copy a reuse returns
    write("b.yaml", policyNamed("b2"));
    auto files = loadPolicyPaths({dir_.string()}, errors, nullptr, &known);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].policies[0].mode, Mode::Audit) << "a.yaml was parsed again";
    EXPECT_EQ(names(files), (std::vector<std::string>{"a", "b2"}));
}

TEST_F(PolicyPathsTest, ReadsADirectoryLikeAConfigMapMount) {
    write("b.yaml", policyNamed("b"));
    write("a.yml", policyNamed("a"));
    write("notes.txt", "not a policy");
    write(".hidden.yaml", policyNamed("hidden"));
    write("sub/c.yaml", policyNamed("c"));
    // kubelet's atomic-writer layout: the real files live under a timestamped
    // directory, "..data" points at it and each key is a symlink through "..data".
    write("..2024_01_01_00_00_00.1/z.yaml", policyNamed("z"));
    fs::create_directory_symlink("..2024_01_01_00_00_00.1", dir_ / "..data");
    fs::create_symlink("..data/z.yaml", dir_ / "z.yaml");

    Diagnostics errors;
    auto files = loadPolicyPaths({dir_.string()}, errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[0].path, (dir_ / "a.yml").string());
    EXPECT_EQ(files[1].path, (dir_ / "b.yaml").string());
    EXPECT_EQ(files[2].path, (dir_ / "z.yaml").string());
    EXPECT_THAT(names(files), ElementsAre("a", "b", "z"));
}

TEST_F(PolicyPathsTest, ReportsANameDefinedTwiceAtTheSecondDefinition) {
    const std::string first = write("a.yaml", policyNamed("api"));
    const std::string second = write("b.yaml", policyNamed("web") + "---\n" + policyNamed("api"));
    Diagnostics errors;
    auto files = loadPolicyPaths({dir_.string()}, errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    ASSERT_EQ(files.size(), 2u);
    EXPECT_TRUE(files[0].valid());
    EXPECT_THAT(problems(files[1].errors),
                ElementsAre(second + ":11:9: duplicate policy name \"api\" (first defined at " +
                            first + ":4:9)"));
    EXPECT_THAT(names(files), ElementsAre("api"));
}

// A tombstone's name is taken like a policy's: one document per name across the set.
TEST_F(PolicyPathsTest, ReportsATombstoneOfANameInForceAsADuplicate) {
    const std::string first = write("a.yaml", policyNamed("api"));
    const std::string second = write("b.yaml",
                                     "apiVersion: palisade.dev/v1\nkind: PolicyTombstone\n"
                                     "metadata: {name: api, version: 2}\n");
    Diagnostics errors;
    auto files = loadPolicyPaths({dir_.string()}, errors);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_THAT(problems(files[1].errors),
                ElementsAre(second + ":3:18: duplicate policy name \"api\" (first defined at " +
                            first + ":4:9)"));
    EXPECT_THAT(files[1].tombstones, IsEmpty());
}

TEST_F(PolicyPathsTest, ReadsAFileNamedTwiceOnce) {
    const std::string file = write("a.yaml", policyNamed("api"));
    Diagnostics errors;
    auto files = loadPolicyPaths({file, dir_.string(), file}, errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_TRUE(files[0].valid());
}

TEST_F(PolicyPathsTest, ReadsAFileWhateverItsName) {
    const std::string file = write("policy.txt", policyNamed("api"));
    Diagnostics errors;
    auto files = loadPolicyPaths({file}, errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    EXPECT_THAT(names(files), ElementsAre("api"));
}

TEST_F(PolicyPathsTest, ReportsAMissingPathAndGoesOn) {
    write("a.yaml", policyNamed("api"));
    const std::string missing = (dir_ / "missing.yaml").string();
    Diagnostics errors;
    auto files = loadPolicyPaths({missing, dir_.string()}, errors);
    EXPECT_THAT(problems(errors), ElementsAre(missing + ": No such file or directory"));
    EXPECT_THAT(names(files), ElementsAre("api"));
}

TEST_F(PolicyPathsTest, KeepsEachFilesOwnProblems) {
    const std::string bad = write("bad.yaml", policyNamed("api") + "  mode: x\n");
    write("good.yaml", policyNamed("web"));
    Diagnostics errors;
    auto files = loadPolicyPaths({dir_.string()}, errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    ASSERT_EQ(files.size(), 2u);
    EXPECT_THAT(problems(files[0].errors),
                ElementsAre(bad + ":7:9: spec.mode must be enforce or audit, not \"x\""));
    EXPECT_THAT(names(files), ElementsAre("web"));
}

TEST(PolicyExamples, EveryShippedPolicyParses) {
    Diagnostics errors;
    auto files = loadPolicyPaths({PALISADE_SOURCE_DIR "/policies"}, errors);
    EXPECT_THAT(problems(errors), IsEmpty());
    std::vector<std::string> names;
    for (const PolicyFile& file : files) {
        EXPECT_THAT(problems(file.errors), IsEmpty());
        for (const Policy& policy : file.policies) names.push_back(policy.name);
    }
    EXPECT_THAT(names, ElementsAre("database", "cluster-dns", "payments", "web-api"));
}

TEST(PolicyExamples, WebApiReachesOnlyItsDatabaseAndOneApi) {
    PolicyFile file = parsePolicyFile(PALISADE_SOURCE_DIR "/policies/web-api.yaml");
    ASSERT_EQ(file.policies.size(), 1u);
    const Policy& p = file.policies[0];
    EXPECT_EQ(p.selector.name, "web-api*");
    ASSERT_EQ(p.egress.size(), 2u);
    ASSERT_TRUE(p.egress[0].toContainers);
    EXPECT_EQ(p.egress[0].toContainers->name, "postgres*");
    EXPECT_EQ(p.egress[0].ports[0].port, 5432);
    EXPECT_EQ(cidrs(p.egress[1].toCIDR), "203.0.113.0/24 2001:db8:443::/48");
    EXPECT_EQ(p.egress[1].ports[0].port, 443);
    EXPECT_EQ(p.egress[1].ports[0].protocol, Protocol::TCP);
}

TEST(PolicyExamples, DatabaseHasNoEgressAndNoSetuidAndListensOnItsPortOnly) {
    PolicyFile file = parsePolicyFile(PALISADE_SOURCE_DIR "/policies/database.yaml");
    ASSERT_EQ(file.policies.size(), 1u);
    EXPECT_THAT(file.policies[0].egress, IsEmpty());
    EXPECT_EQ(file.policies[0].rawSockets, RawSockets::Deny);
    EXPECT_EQ(file.policies[0].execSetuid, ExecAction::Deny);
    ASSERT_TRUE(file.policies[0].bind.has_value());
    ASSERT_EQ(file.policies[0].bind->size(), 2u);
    const BindRule& listen = file.policies[0].bind->front();
    EXPECT_EQ(cidrs(listen.addresses), "0.0.0.0/0 ::/0");
    ASSERT_EQ(listen.ports.size(), 1u);
    EXPECT_EQ(listen.ports[0].port, 5432);
}

TEST(PolicyExamples, DnsReachesTheResolverOverUdpAndTcp) {
    PolicyFile file = parsePolicyFile(PALISADE_SOURCE_DIR "/policies/dns.yaml");
    ASSERT_EQ(file.policies.size(), 1u);
    const Policy& p = file.policies[0];
    EXPECT_EQ(p.selector.labels,
              (std::map<std::string, std::string>{{"palisade.dev/dns", "cluster"}}));
    ASSERT_EQ(p.egress.size(), 1u);
    EXPECT_EQ(cidrs(p.egress[0].toCIDR), "198.51.100.53/32");
    ASSERT_EQ(p.egress[0].ports.size(), 2u);
    EXPECT_EQ(p.egress[0].ports[0].protocol, Protocol::UDP);
    EXPECT_EQ(p.egress[0].ports[1].protocol, Protocol::TCP);
    EXPECT_EQ(p.egress[0].ports[1].port, 53);
}

TEST(PolicyParserTest, KubernetesLabelSelectors) {
    PolicyFile file = parsePolicyText(withSpec("  selector:\n"
                                               "    matchLabels: {app.kubernetes.io/name: api}\n"
                                               "    matchExpressions:\n"
                                               "      - {key: tier, operator: In, values: [web]}\n"
                                               "      - {key: canary, operator: DoesNotExist}\n"
                                               "    namespaceSelector:\n"
                                               "      matchLabels: {team: a}\n"
                                               "  egress:\n"
                                               "    - toContainers: {namespaceSelector: {}}\n"),
                                      "p.yaml");
    ASSERT_TRUE(file.valid()) << problems(file.errors)[0];
    const Selector& s = file.policies.at(0).selector;
    EXPECT_EQ(s.labelSelector.matchLabels,
              (std::map<std::string, std::string>{{"app.kubernetes.io/name", "api"}}));
    ASSERT_EQ(s.labelSelector.matchExpressions.size(), 2u);
    EXPECT_EQ(s.labelSelector.matchExpressions[0].op, LabelRequirement::Operator::In);
    EXPECT_EQ(s.labelSelector.matchExpressions[0].values, std::vector<std::string>{"web"});
    EXPECT_EQ(s.labelSelector.matchExpressions[1].op, LabelRequirement::Operator::DoesNotExist);
    ASSERT_TRUE(s.namespaceSelector);
    EXPECT_EQ(s.namespaceSelector->matchLabels,
              (std::map<std::string, std::string>{{"team", "a"}}));
    const auto& to = file.policies.at(0).egress.at(0).toContainers;
    ASSERT_TRUE(to && to->namespaceSelector);
    EXPECT_TRUE(to->namespaceSelector->empty()) << "{}: every namespace, not an empty selector";
}

std::vector<std::string> fqdnTexts(const EgressRule& rule) {
    std::vector<std::string> out;
    for (const FqdnSelector& fqdn : rule.toFQDNs) out.push_back(fqdn.str());
    return out;
}

TEST(PolicyParser, ReadsFqdnRules) {
    PolicyFile file = parsePolicyText(withEgress("    - toFQDNs:\n"
                                                 "        - matchName: api.stripe.com\n"
                                                 "        - matchPattern: \"*.s3.amazonaws.com\"\n"
                                                 "      ports: [{port: 443, protocol: TCP}]\n"),
                                      "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    const EgressRule& rule = file.policies.at(0).egress.at(0);
    EXPECT_THAT(rule.toCIDR, IsEmpty());
    EXPECT_THAT(rule.except, IsEmpty());
    EXPECT_FALSE(rule.toContainers);
    ASSERT_EQ(rule.toFQDNs.size(), 2u);
    EXPECT_FALSE(rule.toFQDNs[0].pattern);
    EXPECT_EQ(rule.toFQDNs[0].name, "api.stripe.com");
    EXPECT_EQ(rule.toFQDNs[0].str(), "api.stripe.com");
    EXPECT_EQ(rule.toFQDNs[0].where.file, "p.yaml");
    EXPECT_EQ(rule.toFQDNs[0].where.line, 9);
    EXPECT_EQ(rule.toFQDNs[0].where.column, 22);
    EXPECT_TRUE(rule.toFQDNs[1].pattern);
    EXPECT_EQ(rule.toFQDNs[1].name, "s3.amazonaws.com") << "without its \"*.\"";
    EXPECT_EQ(rule.toFQDNs[1].str(), "*.s3.amazonaws.com");
    EXPECT_EQ(rule.toFQDNs[1].where.line, 10);
    EXPECT_EQ(rule.toFQDNs[1].where.column, 25);
    ASSERT_EQ(rule.ports.size(), 1u);
    EXPECT_EQ(rule.ports[0].port, 443);
    EXPECT_EQ(rule.ports[0].protocol, Protocol::TCP);
}

TEST(PolicyParser, NormalisesFqdns) {
    PolicyFile file =
        parsePolicyText(withEgress("    - toFQDNs:\n"
                                   "        - matchName: API.Stripe.COM.\n"
                                   "        - matchPattern: \"*.Example.ORG.\"\n"
                                   "        - {matchPattern: \"*.com\"}\n"  // one label is a name
                                   "        - {matchName: localhost}\n"
                                   "        - {matchName: _ldap._tcp.example.com}\n"
                                   "        - {matchName: 1password.com}\n"
                                   "        - {matchName: xn--bcher-kva.de}\n"
                                   "        - {matchName: api.stripe.com}\n"),  // twice is fine
                        "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    const EgressRule& rule = file.policies.at(0).egress.at(0);
    EXPECT_EQ(fqdnTexts(rule),
              (std::vector<std::string>{"api.stripe.com", "*.example.org", "*.com", "localhost",
                                        "_ldap._tcp.example.com", "1password.com",
                                        "xn--bcher-kva.de", "api.stripe.com"}));
    EXPECT_EQ(rule.toFQDNs[1].name, "example.org");
}

TEST(PolicyParser, AcceptsFqdnsUpToTheDnsLimits) {
    const std::string label63(63, 'a');
    const std::string name253 = longName(253);
    ASSERT_EQ(name253.size(), 253u);
    const std::string pattern253 = "*." + longName(251);
    PolicyFile file = parsePolicyText(
        withFqdns("        - matchName: " + label63 + ".com\n" + "        - matchName: " + name253 +
                  "\n" + "        - matchName: " + name253 + ".\n" + "        - matchPattern: \"" +
                  pattern253 + "\"\n"),
        "p.yaml");
    ASSERT_THAT(problems(file.errors), IsEmpty());
    EXPECT_EQ(fqdnTexts(file.policies.at(0).egress.at(0)),
              (std::vector<std::string>{label63 + ".com", name253, name253, pattern253}));
}

TEST(PolicyParser, FqdnPatternMustBeQuotedInYaml) {
    // A plain '*' starts a YAML alias: the error is YAML's, before any of ours.
    PolicyFile file =
        parsePolicyText(withFqdns("        - matchPattern: *.example.com\n"), "p.yaml");
    ASSERT_EQ(file.errors.size(), 1u);
    EXPECT_THAT(file.errors[0].str(), testing::HasSubstr("YAML syntax error"));
}

}  // namespace
}  // namespace palisade
