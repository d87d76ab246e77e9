// palisade against a real containerd (Debian's), started by the test, with containers
// made as the kubelet's CRI runtime makes them (runtimes.h): a pod's container is found
// with its Kubernetes namespace, pod and name, selected by them and enforced.
#include <nlohmann/json.hpp>

#include "e2e.h"

namespace palisade::test {
namespace {

using nlohmann::json;

class E2eContainerd : public E2E {
  protected:
    void SetUp() override {
        E2E::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        containerd_ = std::make_unique<Containerd>(*sandbox_, *image_);
        agent_->containerdState() = containerd_->state();
    }
    std::string connect(const std::string& id, int port) {
        return firstWord(containerd_
                             ->exec(id, {"/net_probe", "connect", "tcp", sandbox_->bridgeIp4(),
                                         std::to_string(port)})
                             .output);
    }
};

TEST_F(E2eContainerd, PodContainersAreFoundWithTheirKubernetesIdentityAndSelectedByIt) {
    agent_->writePolicy("web.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: shop-web}
spec:
  selector: {namespace: shop, pod: "web-*"}
  mode: enforce
  egress:
    - toCIDR: ["198.18.0.1/32"]
      ports: [{port: 8080, protocol: TCP}]
)");
    agent_->writePolicy("sidecar.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: sidecar-deny}
spec:
  selector: {namespace: shop, name: sidecar}
  mode: enforce
  egress: []
)");
    agent_->start();
    const std::string app = containerd_->runPodContainer(
        "shop", "web-7d9f", "app", sandbox_->addNetwork("web"), {"sleep", "600"});
    const std::string sidecar = containerd_->runPodContainer(
        "shop", "batch-1", "sidecar", sandbox_->addNetwork("batch"), {"sleep", "600"});

    const json entry = waitForContainer(app, json::array({"shop-web"}));
    ASSERT_FALSE(entry.is_null()) << containers().dump(2);
    EXPECT_EQ(entry["policies"], json::array({"shop-web"})) << entry.dump(2);
    EXPECT_EQ(entry["runtime"], "containerd");
    EXPECT_EQ(entry["namespace"], "shop");
    EXPECT_EQ(entry["pod"], "web-7d9f");
    EXPECT_EQ(entry["name"], "app");
    EXPECT_NE(entry["cgroup"].get<std::string>().find("/kubepods/burstable/pod"), std::string::npos)
        << entry["cgroup"];
    EXPECT_FALSE(entry.contains("metadataError")) << entry["metadataError"];
    EXPECT_EQ(waitForContainer(sidecar, json::array({"sidecar-deny"}))["policies"],
              json::array({"sidecar-deny"}));

    EXPECT_EQ(connect(app, 8080), "ok");
    const size_t before = agent_->events().size();
    EXPECT_EQ(connect(app, 8081), "EPERM");
    EXPECT_EQ(connect(sidecar, 8080), "EPERM");
    const json denied = waitForKernelEvent("connect", app, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for the pod's container";
    EXPECT_EQ(denied["palisade"]["reason"], "not-allowlisted");
    EXPECT_EQ(denied["container"]["name"], "app");
    EXPECT_EQ(denied["container"]["runtime"], "containerd");
    EXPECT_EQ(denied["orchestrator"]["namespace"], "shop");
    EXPECT_EQ(denied["orchestrator"]["resource"]["name"], "web-7d9f");
}

}  // namespace
}  // namespace palisade::test
