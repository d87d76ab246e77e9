// The agent with an API server (docs/runtimes/kubernetes.md): a local HTTPS server
// speaking list + watch (tests/common/fake_api_server.h), a "pod" whose container
// has a kubepods cgroup and a containerd bundle, and what the kernel lets it do as
// its labels change.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <tuple>
#include <utility>

#include "agent_process.h"
#include "fake_api_server.h"
#include "harness.h"

namespace palisade::test {
namespace {

using namespace std::chrono_literals;

const std::string kUid = "0b6c4a52-7e1d-4f3a-9c2b-5d8e7f6a1b2c";
const std::string kServer = "198.18.0.200";

class Kubernetes : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        sandbox_->addExternalAddress(kServer + "/32");
        web_ = &sandbox_->addNetwork("web");
        // As kubelet's cgroupfs driver and containerd's CRI plugin make a container.
        cgroup_ = sandbox_->cgroups().create("kubepods/besteffort/pod" + kUid + "/" + web_->id);
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        const std::filesystem::path bundle = std::filesystem::path(agent_->containerdState()) /
                                             "io.containerd.runtime.v2.task/k8s.io" / web_->id;
        std::filesystem::create_directories(bundle);
        std::ofstream(bundle / "config.json") << json{
            {"ociVersion", "1.1.0"},
            {"annotations",
             {{"io.kubernetes.cri.container-type", "container"},
              {"io.kubernetes.cri.container-name", "app"},
              {"io.kubernetes.cri.sandbox-namespace", "shop"},
              {"io.kubernetes.cri.sandbox-name",
               "web-0"}}}}.dump();
        api_ = std::make_unique<FakeApiServer>(agent_->dir() + "/api");
        // No containerStatuses yet: joined by the pod uid of the cgroup path.
        api_->setList("pods", {makePod("shop", "web-0", kUid, {{"app", "web"}}, {}, "10")}, "20");
        api_->setList("namespaces", {makeNamespace("shop", {{"team", "a"}}, "3")}, "30");
        agent_->writePolicy("web.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: web}
spec:
  selector:
    matchLabels: {app: web}
    namespaceSelector: {matchLabels: {team: a}}
  egress:
    - toCIDR: [198.18.0.200/32]
      ports: [{port: 443, protocol: TCP}]
)");
        agent_->writePolicy("locked.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: locked}
spec:
  selector:
    namespace: shop
    matchExpressions: [{key: app, operator: NotIn, values: [web]}]
)");
    }
    void TearDown() override {
        agent_.reset();
        api_.reset();
        sandbox_.reset();
    }
    void configure(const std::string& caFile) {
        agent_->extraConfig() = "kubernetes:\n  enabled: true\n  apiServer: " + api_->url() +
                                "\n  tokenFile: " + api_->tokenFile() + "\n  caFile: " + caFile +
                                "\n  nodeName: node-a\n";
    }
    json cli(const std::string& what) {
        RunResult r = run({PALISADE_BINARY, what, "--json", "--config", agent_->configPath()});
        EXPECT_TRUE(r.ok()) << r.output;
        return r.ok() ? json::parse(r.output) : json();
    }
    json container() {
        for (const auto& c : cli("containers")) {
            if (c["id"] == web_->id) return c;
        }
        return nullptr;
    }
    // Polls (bounded) until the container is selected by exactly `policies`.
    bool waitSelectedBy(const json& policies) {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (container()["policies"] != policies) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(50ms);
        }
        return true;
    }
    int connectErrno() {
        return callInInt(Placement{web_->netns, cgroup_},
                         [] { return connectErrnoHere(kServer, 443); });
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* web_ = nullptr;
    std::string cgroup_;
    std::unique_ptr<AgentProcess> agent_;
    std::unique_ptr<FakeApiServer> api_;
};

TEST_F(Kubernetes, PodLabelsSelectAndAChangeWhileRunningIsEnforced) {
    Server https = sandbox_->listenOnBridge(443);
    configure(api_->caFile());
    agent_->start();
    json c = container();
    ASSERT_FALSE(c.is_null()) << cli("containers").dump();
    EXPECT_EQ(c["runtime"], "containerd");
    EXPECT_EQ(c["podUid"], kUid);
    EXPECT_EQ(c["labels"], (json{{"app", "web"}}));
    EXPECT_EQ(c["namespaceLabels"]["team"], "a");
    EXPECT_EQ(c["policies"], json::array({"web"})) << "in force from the first generation";
    EXPECT_EQ(connectErrno(), 0);
    const json status = cli("status")["kubernetes"];
    ASSERT_TRUE(status.is_object()) << cli("status").dump();
    EXPECT_EQ(status["connected"], true) << status.dump();
    EXPECT_EQ(status["pods"], 1);
    EXPECT_EQ(status["nodeName"], "node-a");

    // The pod is relabelled while it runs (kubectl label pod web-0 app=api --overwrite);
    // the kubelet has reported its container by now.
    api_->push("pods", "MODIFIED",
               makePod("shop", "web-0", kUid, {{"app", "api"}}, {web_->id}, "21"));
    ASSERT_TRUE(waitSelectedBy(json::array({"locked"}))) << container().dump();
    EXPECT_EQ(connectErrno(), EPERM);
    // And back, through the namespace: web again, but its namespace no longer team=a.
    api_->push("namespaces", "MODIFIED", makeNamespace("shop", {{"team", "b"}}, "31"));
    api_->push("pods", "MODIFIED",
               makePod("shop", "web-0", kUid, {{"app", "web"}}, {web_->id}, "22"));
    ASSERT_TRUE(waitSelectedBy(json::array())) << container().dump();
    api_->push("namespaces", "MODIFIED", makeNamespace("shop", {{"team", "a"}}, "32"));
    ASSERT_TRUE(waitSelectedBy(json::array({"web"}))) << container().dump();
    EXPECT_EQ(connectErrno(), 0);
}

// The pod's address is on its record (status.podIPs, which the kubelet writes): another
// container that adds it to its own namespace before the pod's container runs does not
// take it (issue 17, item 4).
TEST_F(Kubernetes, APodsAddressIsThePodsThoughAnotherContainerHeldItFirst) {
    Container& thief = sandbox_->addContainer("thief");
    agent_->describe(thief);
    Server thiefInit = thief.listen(9000, SOCK_STREAM, true);
    ASSERT_TRUE(thief.run({"ip", "addr", "add", web_->ip4 + "/32", "dev", "lo"}).ok());
    json pod = makePod("shop", "web-0", kUid, {{"app", "web"}}, {}, "10");
    pod["status"]["podIP"] = web_->ip4;
    pod["status"]["podIPs"] = json::array({{{"ip", web_->ip4}}});
    api_->setList("pods", {pod}, "20");
    configure(api_->caFile());
    agent_->start();

    auto entries = [&] {
        std::map<std::string, json> byId;
        for (const json& c : cli("containers")) byId[c.value("id", "")] = c;
        return std::pair{byId[web_->id], byId[thief.id]};
    };
    auto [web, taker] = entries();
    EXPECT_EQ(web["recordedAddresses"], json::array({web_->ip4})) << web.dump();
    auto holds = [](const json& entry, const std::string& ip) {
        const json addresses = entry.value("addresses", json::array());
        return std::ranges::find(addresses, json(ip)) != addresses.end();
    };
    // The pod's container starts: its process, in the pod's namespace.
    web_->useCgroup(cgroup_);
    Server webInit = web_->listen(9000, SOCK_STREAM, true);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
        std::this_thread::sleep_for(100ms);
        std::tie(web, taker) = entries();
    } while (!holds(web, web_->ip4) && std::chrono::steady_clock::now() < deadline);
    EXPECT_TRUE(holds(web, web_->ip4)) << web.dump();
    EXPECT_FALSE(holds(taker, web_->ip4)) << taker.dump();
    EXPECT_TRUE(holds(taker, thief.ip4)) << taker.dump();
    EXPECT_EQ(taker["addressConflicts"], (json{{web_->ip4, web_->id}})) << taker.dump();
}

TEST_F(Kubernetes, ADroppedWatchResumesAndA410ListsAgain) {
    configure(api_->caFile());
    agent_->start();
    ASSERT_TRUE(waitSelectedBy(json::array({"web"})));
    api_->waitRequests("pods", 2);
    api_->push("pods", "MODIFIED", makePod("shop", "web-0", kUid, {{"app", "web"}}, {}, "23"));
    ASSERT_TRUE(api_->waitDelivered("pods"));
    api_->dropWatches("pods");
    auto requests = api_->waitRequests("pods", 3);
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_TRUE(requests[2].watch());
    EXPECT_EQ(requests[2].params["resourceVersion"], "23");

    // The history is gone: what changed meanwhile comes with the new list.
    api_->setList("pods", {makePod("shop", "web-0", kUid, {{"app", "api"}}, {}, "50")}, "51");
    api_->push("pods", "ERROR", statusObject(410, "Expired", "too old resource version: 23 (50)"));
    requests = api_->waitRequests("pods", 5);
    ASSERT_EQ(requests.size(), 5u);
    EXPECT_FALSE(requests[3].watch()) << "listed again";
    EXPECT_EQ(requests[4].params["resourceVersion"], "51");
    EXPECT_TRUE(waitSelectedBy(json::array({"locked"}))) << container().dump();
    EXPECT_EQ(connectErrno(), EPERM);
}

TEST_F(Kubernetes, ABadTokenIsLoudAndEnforcementGoesOn) {
    std::ofstream(api_->tokenFile()) << "expired\n";
    configure(api_->caFile());
    agent_->start();
    const json status = cli("status")["kubernetes"];
    EXPECT_EQ(status["connected"], false);
    EXPECT_NE(status["error"].get<std::string>().find("HTTP 401: Unauthorized"), std::string::npos)
        << status.dump();
    EXPECT_NE(agent_->stderrText().find("HTTP 401"), std::string::npos);
    // No labels known, which is not "no labels": not even `app NotIn [web]` selects the
    // container, which falls under defaults.unmatched (audit).
    EXPECT_EQ(container()["policies"], json::array());
    EXPECT_EQ(connectErrno(), ECONNREFUSED) << "audit: the connect goes ahead, to no listener";
    EXPECT_GT(agent_->pid(), 0);
}

TEST_F(Kubernetes, AServerCertificateFromAnotherCaIsRefused) {
    configure(api_->otherCaFile());
    agent_->start();
    const json status = cli("status")["kubernetes"];
    EXPECT_EQ(status["connected"], false);
    EXPECT_NE(status["error"].get<std::string>().find("not signed by kubernetes.caFile"),
              std::string::npos)
        << status.dump();
    EXPECT_TRUE(api_->requests("pods").empty()) << "nothing sent to an unverified server";
    EXPECT_EQ(container()["labels"], json::object());
}

}  // namespace
}  // namespace palisade::test
