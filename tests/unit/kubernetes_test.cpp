// agent/kubernetes: the API objects as the reference documents them, the join of
// containers to pods, the configuration, and list + watch against a local HTTPS
// server speaking the protocol (tests/common/fake_api_server.h).
#include <gtest/gtest.h>

#include <thread>

#include "config/config_loader.h"
#include "fake_api_server.h"
#include "kubernetes/api_objects.h"
#include "kubernetes/in_cluster_config.h"
#include "kubernetes/pod_cache.h"
#include "kubernetes/pod_source.h"
#include "temp_dir.h"

namespace palisade {
namespace {

using nlohmann::json;
using test::FakeApiServer;
using test::makeNamespace;
using test::makePod;
using namespace std::chrono_literals;

const std::string kUid = "6a1f8c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const std::string kId = std::string(64, 'c');

// A watch event line exactly as the API server streams it (WatchEvent, v1 Pod).
const char* kModifiedLine =
    R"j({"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0",)j"
    R"j("namespace":"shop","uid":"6a1f8c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","resourceVersion":"1234",)j"
    R"j("creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web","tier":"front"}},)j"
    R"j("spec":{"nodeName":"node-a","containers":[{"name":"app","image":"app:1"}]},)j"
    R"j("status":{"phase":"Running","containerStatuses":[{"name":"app","ready":true,)j"
    R"j("restartCount":0,"image":"app:1","imageID":"app@sha256:00","containerID":)j"
    R"j("containerd://cccc","started":true}],"initContainerStatuses":[{"name":"init",)j"
    R"j("containerID":"cri-o://dddd"}]}}})j";

TEST(KubernetesObjectsTest, WatchEventOfAPod) {
    std::string error;
    auto event = parseWatchEvent(kModifiedLine, error);
    ASSERT_TRUE(event) << error;
    EXPECT_EQ(event->type, "MODIFIED");
    EXPECT_EQ(resourceVersionOf(event->object), "1234");
    auto pod = parsePod(event->object, error);
    ASSERT_TRUE(pod) << error;
    EXPECT_EQ(pod->uid, kUid);
    EXPECT_EQ(pod->name, "web-0");
    EXPECT_EQ(pod->k8sNamespace, "shop");
    EXPECT_EQ(pod->labels, (Labels{{"app", "web"}, {"tier", "front"}}));
    EXPECT_EQ(pod->containerIds, (std::vector<std::string>{"cccc", "dddd"}));
}

// The pod's addresses, which the kubelet writes; a hostNetwork pod's are the node's and
// are no one's to own.
TEST(KubernetesObjectsTest, PodAddressesAreItsStatusButNotOnTheHostNetwork) {
    json pod = {{"metadata", {{"name", "web-0"}, {"namespace", "shop"}, {"uid", kUid}}},
                {"spec", {{"nodeName", "node-a"}}},
                {"status",
                 {{"podIP", "10.244.1.7"},
                  {"podIPs", json::array({{{"ip", "10.244.1.7"}},
                                          {{"ip", "fd00:10:244::7"}},
                                          {{"ip", "10.244.1.0/24"}},
                                          {{"ip", 7}},
                                          "10.244.1.8"})}}}};
    std::string error;
    auto info = parsePod(pod, error);
    ASSERT_TRUE(info) << error;
    std::vector<std::string> got;
    for (const IpAddress& a : info->addresses) got.push_back(a.str());
    EXPECT_EQ(got, (std::vector<std::string>{"10.244.1.7", "fd00:10:244::7"}));

    pod["spec"]["hostNetwork"] = true;
    info = parsePod(pod, error);
    ASSERT_TRUE(info) << error;
    EXPECT_TRUE(info->addresses.empty());
}

TEST(KubernetesObjectsTest, BookmarkAndErrorEvents) {
    std::string error;
    // A BOOKMARK carries only the kind and the resourceVersion.
    auto bookmark = parseWatchEvent(
        R"j({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":)j"
        R"j({"resourceVersion":"12746","annotations":{"k8s.io/initial-events-end":"true"}}}})j",
        error);
    ASSERT_TRUE(bookmark) << error;
    EXPECT_EQ(resourceVersionOf(bookmark->object), "12746");
    auto gone = parseWatchEvent(
        R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)j"
        R"j("status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired",)j"
        R"j("code":410}})j",
        error);
    ASSERT_TRUE(gone) << error;
    auto status = parseStatus(gone->object);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 410);
    EXPECT_EQ(status->reason, "Expired");
    EXPECT_EQ(status->message, "too old resource version: 1 (5)");
    EXPECT_FALSE(parseStatus(bookmark->object)) << "not kind: Status";
}

TEST(KubernetesObjectsTest, MalformedIsAnErrorNotACrash) {
    std::string error;
    EXPECT_FALSE(parseWatchEvent("{\"type\":\"ADDED\",\"object\":", error));
    EXPECT_EQ(error, "a watch event that is not JSON");
    EXPECT_FALSE(parseWatchEvent(R"j({"type":"RENAMED","object":{}})j", error));
    EXPECT_FALSE(parseWatchEvent(R"j({"type":"ADDED","object":[]})j", error));
    EXPECT_FALSE(parseWatchEvent(R"j([1,2])j", error));
    EXPECT_FALSE(parsePod(json{{"metadata", {{"name", "a"}, {"namespace", "b"}}}}, error));
    EXPECT_EQ(error, "a pod without metadata.uid, name or namespace");
    EXPECT_FALSE(parsePod(
        json{{"metadata",
              {{"name", "a"}, {"namespace", "b"}, {"uid", kUid}, {"labels", {{"app", 1}}}}}},
        error));
    EXPECT_EQ(error, "pod b/a: metadata.labels.app is not a string");
    EXPECT_FALSE(parseNamespace(json::array(), error));
    EXPECT_FALSE(parseList("<html>", error));
    // Deep enough to overflow the stack when the parsed value is copied or printed.
    const std::string deep(100000, '[');
    EXPECT_FALSE(parseWatchEvent(R"({"type":"ADDED","object":{"a":)" + deep, error));
    EXPECT_EQ(error, "a watch event nested deeper than 64 levels");
    EXPECT_FALSE(parseList(R"({"metadata":{"resourceVersion":"1"},"items":[)" + deep, error));
    EXPECT_EQ(error, "the list is nested deeper than 64 levels");
    // Brackets inside strings are text.
    EXPECT_TRUE(parseWatchEvent(R"({"type":"ADDED","object":{"a":")" + deep + R"("}})", error))
        << error;
    EXPECT_FALSE(parseList(R"j({"kind":"Status","code":403})j", error));
}

TEST(KubernetesObjectsTest, PodListAndNamespaceList) {
    std::string error;
    // A list's items carry no kind and apiVersion; an empty list may leave out items.
    auto list = parseList(
        R"j({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"77"},"items":[)j"
        R"j({"metadata":{"name":"a","namespace":"n","uid":"u1"},"spec":{},"status":{}}]})j",
        error);
    ASSERT_TRUE(list) << error;
    EXPECT_EQ(list->resourceVersion, "77");
    ASSERT_EQ(list->items.size(), 1u);
    EXPECT_TRUE(parsePod(list->items[0], error)) << error;
    auto empty = parseList(
        R"j({"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":"5"}})j",
        error);
    ASSERT_TRUE(empty) << error;
    EXPECT_TRUE(empty->items.empty());
    auto ns = parseNamespace(makeNamespace("shop", {{"team", "a"}}, "3"), error);
    ASSERT_TRUE(ns) << error;
    EXPECT_EQ(ns->labels, (Labels{{"kubernetes.io/metadata.name", "shop"}, {"team", "a"}}));
}

TEST(PodJoinTest, PodUidFromEitherCgroupDriver) {
    EXPECT_EQ(podUidFromCgroupPath("/sys/fs/cgroup/kubepods/besteffort/pod" + kUid + "/" + kId),
              kUid);
    EXPECT_EQ(podUidFromCgroupPath("/sys/fs/cgroup/kubepods/pod" + kUid + "/" + kId), kUid);
    std::string underscored = kUid;
    std::ranges::replace(underscored, '-', '_');
    EXPECT_EQ(podUidFromCgroupPath("/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/"
                                   "kubepods-burstable-pod" +
                                   underscored + ".slice/cri-containerd-" + kId + ".scope"),
              kUid);
    EXPECT_EQ(podUidFromCgroupPath("/sys/fs/cgroup/kubepods.slice/kubepods-pod" + underscored +
                                   ".slice/crio-" + kId + ".scope"),
              kUid);
    EXPECT_EQ(podUidFromCgroupPath("/sys/fs/cgroup/system.slice/docker-" + kId + ".scope"), "");
    EXPECT_EQ(podUidFromCgroupPath("/sys/fs/cgroup/kubepods/besteffort/podnot-a-uid/" + kId), "");
}

Container criContainer(const std::string& runtime = "containerd") {
    Container c;
    c.id = kId;
    c.runtime = runtime;
    c.name = "app";
    c.k8sNamespace = "shop";
    c.pod = "web-0";
    c.cgroupPath = "/sys/fs/cgroup/kubepods/besteffort/pod" + kUid + "/" + kId;
    return c;
}

const IpAddress kPodIp{4, {10, 244, 1, 7}};

KubernetesSnapshot shopSnapshot(std::vector<std::string> containerIds = {}) {
    KubernetesSnapshot s;
    s.pods[kUid] =
        PodInfo{kUid, "web-0", "shop", {{"app", "web"}}, std::move(containerIds), {kPodIp}};
    s.namespaces["shop"] = {{"team", "a"}};
    return s;
}

TEST(PodJoinTest, ByPodUidOrContainerIdWhenTheCriRuntimeAgrees) {
    std::vector<Container> cs = {criContainer(), criContainer("cri-o")};
    joinPods(cs, shopSnapshot());
    for (const auto& c : cs) {
        EXPECT_EQ(c.labels, (Labels{{"app", "web"}})) << c.runtime;
        EXPECT_EQ(c.podUid, kUid);
        EXPECT_EQ(c.namespaceLabels, (Labels{{"team", "a"}}));
        EXPECT_EQ(c.recordedAddresses, std::vector<IpAddress>{kPodIp});
    }
    // By the container id alone, whatever the cgroup path.
    cs = {criContainer()};
    cs[0].cgroupPath = "/sys/fs/cgroup/elsewhere/" + kId;
    joinPods(cs, shopSnapshot({kId}));
    EXPECT_EQ(cs[0].podUid, kUid);
    // The pod is gone: what it gave goes with it.
    joinPods(cs, KubernetesSnapshot{});
    EXPECT_TRUE(cs[0].labels.empty());
    EXPECT_TRUE(cs[0].podUid.empty());
    EXPECT_FALSE(cs[0].namespaceLabels);
    EXPECT_TRUE(cs[0].recordedAddresses.empty());
}

TEST(PodJoinTest, NothingButTheCriRuntimesWordMakesAContainerAPods) {
    // The bundle names another pod: the cgroup path alone proves nothing.
    std::vector<Container> cs = {criContainer()};
    cs[0].pod = "other";
    // A docker container in a kubepods cgroup (--cgroup-parent), listed as containerd
    // without a bundle.
    cs.push_back(criContainer());
    cs[1].k8sNamespace.clear();
    cs[1].pod.clear();
    cs[1].metadataError = "config.json: No such file or directory";
    // Docker keeps its own labels.
    cs.push_back(criContainer("docker"));
    cs[2].labels = {{"app", "mine"}};
    joinPods(cs, shopSnapshot({kId}));
    EXPECT_TRUE(cs[0].labels.empty());
    EXPECT_TRUE(cs[0].recordedAddresses.empty()) << "another pod's address";
    EXPECT_TRUE(cs[1].labels.empty());
    EXPECT_EQ(cs[2].labels, (Labels{{"app", "mine"}}));
    EXPECT_TRUE(cs[2].podUid.empty());
}

TEST(KubernetesConfigTest, EnvironmentDefaultsAndProblems) {
    std::map<std::string, std::string> env;
    auto get = [&](const char* name) { return env.count(name) ? env[name] : std::string(); };
    Config::Kubernetes k;
    EXPECT_FALSE(resolveKubernetes(k, get).enabled) << "auto without KUBERNETES_SERVICE_HOST";
    env = {{"KUBERNETES_SERVICE_HOST", "fd00::1"},
           {"KUBERNETES_SERVICE_PORT", "6443"},
           {"NODE_NAME", "node-a"}};
    KubernetesSetup on = resolveKubernetes(k, get);
    ASSERT_TRUE(on.server) << on.problem;
    EXPECT_EQ(on.server->host, "fd00::1");
    EXPECT_EQ(on.server->port, 6443);
    EXPECT_EQ(on.server->nodeName, "node-a");
    EXPECT_EQ(on.server->tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token");
    env.erase("NODE_NAME");
    KubernetesSetup noNode = resolveKubernetes(k, get);
    EXPECT_TRUE(noNode.enabled);
    EXPECT_FALSE(noNode.server);
    EXPECT_NE(noNode.problem.find("NODE_NAME"), std::string::npos) << noNode.problem;
    k.enabled = Config::Kubernetes::Enabled::Off;
    EXPECT_FALSE(resolveKubernetes(k, get).enabled);
    env.clear();
    k.enabled = Config::Kubernetes::Enabled::On;
    EXPECT_EQ(resolveKubernetes(k, get).problem,
              "kubernetes.apiServer is not set and neither is KUBERNETES_SERVICE_HOST");
}

TEST(KubernetesConfigTest, Keys) {
    Diagnostics errors;
    Config c = parseConfigText(
        "kubernetes:\n  enabled: true\n  apiServer: https://[::1]:6443\n  nodeName: n1\n"
        "  tokenFile: /t\n  caFile: /c\n",
        "c.yaml", errors);
    ASSERT_TRUE(errors.empty()) << errors[0].str();
    EXPECT_EQ(c.kubernetes.enabled, Config::Kubernetes::Enabled::On);
    EXPECT_EQ(c.kubernetes.apiServer, "https://[::1]:6443");
    EXPECT_EQ(c.kubernetes.nodeName, "n1");
    EXPECT_EQ(c.kubernetes.caFile, "/c");
    parseConfigText(
        "kubernetes:\n  enabled: yes\n  apiServer: http://10.0.0.1\n  tokenFile: token\n", "c.yaml",
        errors);
    std::vector<std::string> text;
    for (const auto& d : errors) text.push_back(d.str());
    EXPECT_EQ(text, (std::vector<std::string>{
                        "c.yaml:2:12: kubernetes.enabled must be auto, true or false, not \"yes\"",
                        "c.yaml:3:14: invalid kubernetes.apiServer \"http://10.0.0.1\": must "
                        "start with https:// (the API server is only spoken to over TLS)",
                        "c.yaml:4:14: kubernetes.tokenFile must be an absolute path, not "
                        "\"token\""}));
}

// Polls `condition` for up to 5 s.
bool eventually(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

class ListWatchTest : public ::testing::Test {
  protected:
    void SetUp() override {
        api_ = std::make_unique<FakeApiServer>(dir_ / "api");
        api_->setList("pods", {makePod("shop", "web-0", kUid, {{"app", "web"}}, {kId}, "10")},
                      "20");
        api_->setList("namespaces", {makeNamespace("shop", {{"team", "a"}}, "3")}, "30");
    }
    ApiServer server() const {
        std::string error;
        ApiServer s = *parseApiServerUrl(api_->url(), error);
        s.caFile = api_->caFile();
        s.tokenFile = api_->tokenFile();
        s.nodeName = "node-a";
        return s;
    }
    Labels podLabels(const PodSource& source) {
        std::vector<Container> cs = {criContainer()};
        source.join(cs);
        return cs[0].labels;
    }

    testing::TempDir dir_;
    std::unique_ptr<FakeApiServer> api_;
};

TEST_F(ListWatchTest, ListsThenWatchesThisNodesPods) {
    PodSource source(server());
    source.start();
    ASSERT_TRUE(source.waitListed(5s)) << source.statusJson().dump();
    EXPECT_EQ(podLabels(source), (Labels{{"app", "web"}}));
    auto requests = api_->waitRequests("pods", 2);
    ASSERT_GE(requests.size(), 2u);
    EXPECT_FALSE(requests[0].watch());
    EXPECT_EQ(requests[0].params["fieldSelector"], "spec.nodeName=node-a");
    EXPECT_TRUE(requests[1].watch());
    EXPECT_EQ(requests[1].params["fieldSelector"], "spec.nodeName=node-a");
    EXPECT_EQ(requests[1].params["resourceVersion"], "20") << "the list's resourceVersion";
    EXPECT_EQ(requests[1].params["allowWatchBookmarks"], "true");

    api_->push("pods", "MODIFIED",
               makePod("shop", "web-0", kUid, {{"app", "web"}, {"v", "2"}}, {kId}, "21"));
    EXPECT_TRUE(eventually([&] { return podLabels(source).count("v"); }));
    api_->push("namespaces", "MODIFIED", makeNamespace("shop", {{"team", "b"}}, "31"));
    EXPECT_TRUE(eventually([&] {
        std::vector<Container> cs = {criContainer()};
        source.join(cs);
        return cs[0].namespaceLabels && cs[0].namespaceLabels->at("team") == "b";
    }));
    api_->push("pods", "DELETED", makePod("shop", "web-0", kUid, {{"app", "web"}}, {kId}, "22"));
    EXPECT_TRUE(eventually([&] { return podLabels(source).empty(); }));
    const json status = source.statusJson();
    EXPECT_EQ(status["connected"], true);
    EXPECT_EQ(status["error"], "");
    EXPECT_EQ(status["pods"], 0);
    EXPECT_EQ(status["namespaces"], 1);
    EXPECT_TRUE(status["lastSync"].is_string());
}

TEST_F(ListWatchTest, ADroppedWatchResumesFromTheLastResourceVersion) {
    PodSource source(server());
    source.start();
    ASSERT_TRUE(source.waitListed(5s));
    api_->waitRequests("pods", 2);
    api_->push("pods", "ADDED", makePod("shop", "web-1", "u-1", {}, {}, "25"));
    api_->push("pods", "BOOKMARK",
               {{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "28"}}}});
    ASSERT_TRUE(api_->waitDelivered("pods"));
    api_->dropWatches("pods");
    auto requests = api_->waitRequests("pods", 3);
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_TRUE(requests[2].watch()) << "resumed, not listed again";
    EXPECT_EQ(requests[2].params["resourceVersion"], "28") << "the bookmark's";
    EXPECT_EQ(source.statusJson()["lists"], 2) << "one list of pods, one of namespaces";
}

TEST_F(ListWatchTest, GoneMeansListAgain) {
    PodSource source(server());
    source.start();
    ASSERT_TRUE(source.waitListed(5s));
    api_->waitRequests("pods", 2);
    // As an ERROR event whose object is a Status with code 410...
    api_->setList("pods", {makePod("shop", "web-0", kUid, {{"app", "new"}}, {kId}, "40")}, "41");
    api_->push("pods", "ERROR", test::statusObject(410, "Expired", "too old resource version"));
    auto requests = api_->waitRequests("pods", 4);
    ASSERT_EQ(requests.size(), 4u);
    EXPECT_FALSE(requests[2].watch()) << "listed again";
    EXPECT_EQ(requests[3].params["resourceVersion"], "41");
    EXPECT_TRUE(eventually([&] { return podLabels(source) == Labels{{"app", "new"}}; }));
    // ... and as the watch request's HTTP status.
    api_->goneOnNextWatch("pods");
    api_->dropWatches("pods");
    requests = api_->waitRequests("pods", 6);
    ASSERT_EQ(requests.size(), 6u);
    EXPECT_TRUE(requests[4].watch());
    EXPECT_FALSE(requests[5].watch()) << "410 answered: listed again";
    EXPECT_TRUE(eventually([&] { return source.statusJson()["lists"] == 4; }));
}

TEST_F(ListWatchTest, MalformedEventsAreErrorsAndTheWatchGoesOn) {
    PodSource source(server());
    source.start();
    ASSERT_TRUE(source.waitListed(5s));
    api_->waitRequests("pods", 2);
    api_->pushRaw("pods", "{\"type\":\"ADDED\",\"object\":{\"kind\":");
    auto requests = api_->waitRequests("pods", 3);
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[2].params["resourceVersion"], "20");
    EXPECT_GE(source.statusJson()["errors"], 1);
    EXPECT_EQ(podLabels(source), (Labels{{"app", "web"}})) << "what was known stays";
}

TEST_F(ListWatchTest, ABadTokenIsLoudNotFatal) {
    std::ofstream(api_->tokenFile()) << "stolen\n";
    PodSource source(server());
    source.start();
    EXPECT_FALSE(source.waitListed(5s));
    api_->waitRequests("pods", 2);  // and it tries again
    const json status = source.statusJson();
    EXPECT_EQ(status["connected"], false);
    EXPECT_NE(status["error"].get<std::string>().find("pods: list: HTTP 401: Unauthorized"),
              std::string::npos)
        << status.dump();
    // The token file is read again: a rotated token is used.
    std::ofstream(api_->tokenFile()) << "test-token\n";
    EXPECT_TRUE(eventually([&] { return source.statusJson()["connected"] == true; }));
}

TEST_F(ListWatchTest, AnApiServerTheCaDidNotSignIsRefused) {
    ApiServer s = server();
    s.caFile = api_->otherCaFile();
    PodSource source(s);
    source.start();
    EXPECT_FALSE(source.waitListed(5s));
    const json status = source.statusJson();
    EXPECT_EQ(status["connected"], false);
    EXPECT_NE(status["error"].get<std::string>().find("not signed by kubernetes.caFile"),
              std::string::npos)
        << status.dump();
    EXPECT_TRUE(api_->requests("pods").empty()) << "no request went out";
}

}  // namespace
}  // namespace palisade
