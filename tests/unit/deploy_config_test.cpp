// The node configurations we ship load cleanly through the agent's own loader: the
// example /etc/palisade/palisade.yaml and the one in the Kubernetes ConfigMap; the
// OCI hook file names the installed binary and configuration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "config/config_loader.h"
#include "util/yaml_reader.h"

namespace palisade {
namespace {

using testing::IsEmpty;

const std::string kSource = PALISADE_SOURCE_DIR;

std::vector<std::string> problems(const Diagnostics& errors) {
    std::vector<std::string> out;
    for (const Diagnostic& d : errors) out.push_back(d.str());
    return out;
}

TEST(DeployConfig, SystemdExampleLoadsAsInstalled) {
    Diagnostics errors;
    Config c = loadConfigFile(kSource + "/deploy/etc/palisade/palisade.yaml", errors);
    ASSERT_THAT(problems(errors), IsEmpty());
    // The paths the unit makes writable or creates for the agent.
    EXPECT_EQ(c.stateDir, "/sys/fs/bpf/palisade");                // ReadWritePaths=
    EXPECT_EQ(c.controlSocket, "/run/palisade/palisade.sock");    // RuntimeDirectory=
    EXPECT_EQ(c.signing.recordDir, "/var/lib/palisade/signing");  // StateDirectory=
    EXPECT_EQ(c.policyDir, "/etc/palisade/policies.d");
    EXPECT_EQ(c.metrics.listen, "127.0.0.1:9464");  // IPAddressAllow=localhost
    EXPECT_EQ(c.ociHook.timeout, std::chrono::milliseconds(2000));
    EXPECT_EQ(c.ociHook.onTimeout, Config::OciHook::OnTimeout::Fail);
    // It spells out the built-in values.
    EXPECT_EQ(c.limits.fqdnNames, Config().limits.fqdnNames);
    EXPECT_EQ(c.limits.fqdnAddresses, Config().limits.fqdnAddresses);
    EXPECT_EQ(c.limits.dnsQueries, Config().limits.dnsQueries);
    EXPECT_EQ(c.fqdn.minTTL, Config().fqdn.minTTL);
    EXPECT_EQ(c.fqdn.maxTTL, Config().fqdn.maxTTL);
    EXPECT_EQ(c.fqdn.perContainerAddresses, Config().fqdn.perContainerAddresses);
}

// podman's and CRI-O's hooks schema 1.0.0; install.cmake rewrites the two paths for
// another prefix.
TEST(DeployConfig, OciHookFileRunsTheHookAtCreateRuntime) {
    std::ifstream in(kSource + "/deploy/oci-hooks.d/palisade.json");
    const auto hook = nlohmann::json::parse(in, nullptr, false);
    ASSERT_TRUE(hook.is_object());
    EXPECT_EQ(hook["version"], "1.0.0");
    EXPECT_EQ(hook["hook"]["path"], "/usr/sbin/palisade");
    EXPECT_EQ(hook["hook"]["args"], nlohmann::json::array({"palisade", "oci-hook", "--config",
                                                           "/etc/palisade/palisade.yaml"}));
    EXPECT_EQ(hook["when"], nlohmann::json({{"always", true}}));
    EXPECT_EQ(hook["stages"], nlohmann::json::array({"createRuntime"}));
}

TEST(DeployConfig, KubernetesConfigMapLoads) {
    const std::string path = kSource + "/deploy/kubernetes/configmap-config.yaml";
    Diagnostics errors;
    yaml::Reader reader(path, errors);
    const auto documents = reader.loadAll(yaml::readSource(path, errors).value_or(""));
    ASSERT_EQ(documents.size(), 1u);
    const auto data = yaml::MapView(reader, {documents[0], documents[0], ""}).get("data");
    ASSERT_TRUE(data);
    const auto embedded = yaml::MapView(reader, *data).get("palisade.yaml");
    ASSERT_TRUE(embedded);
    const std::string text = reader.string(*embedded).value_or("");
    ASSERT_THAT(problems(errors), IsEmpty());
    Config c = parseConfigText(text, path + ":data/palisade.yaml", errors);
    ASSERT_THAT(problems(errors), IsEmpty());
    EXPECT_EQ(c.cgroupRoot, "/host/sys/fs/cgroup");
    EXPECT_EQ(c.stateDir, "/var/lib/palisade/bpf");
    EXPECT_EQ(c.metrics.listen, "0.0.0.0:9464");
}

}  // namespace
}  // namespace palisade
