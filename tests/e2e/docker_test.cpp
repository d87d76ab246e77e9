// palisade against a real dockerd (docker.io from Debian), started by the test in the
// sandbox's bridge netns (runtimes.h): identity and selection, egress, isolation between
// containers, setuid exec, containers that come and go, and an agent restart.
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e.h"

namespace palisade::test {
namespace {

using nlohmann::json;

constexpr const char* kServer = Dockerd::kBridgeIp;  // docker0, in the bridge netns

// Containers labelled app=shop may reach the bridge's port 8080 over TCP, nothing else;
// containers named db* nothing at all.
constexpr const char* kShopPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: shop-egress}
spec:
  selector: {labels: {app: shop}}
  mode: enforce
  egress:
    - toCIDR: ["198.18.250.1/32"]
      ports: [{port: 8080, protocol: TCP}]
)";
constexpr const char* kDbPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db-deny}
spec:
  selector: {name: "db*"}
  mode: enforce
  egress: []
)";

class E2eDocker : public E2E {
  protected:
    void SetUp() override {
        E2E::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        docker_ = std::make_unique<Dockerd>(*sandbox_, *image_);
        agent_->dockerRoot() = docker_->dataRoot();
    }

    // `docker run --detach` of the image; the container's full id.
    std::string start(const std::string& name, const std::vector<std::string>& options,
                      const std::vector<std::string>& command = {"sleep", "600"}) {
        std::vector<std::string> args{"run", "--detach", "--name", name};
        args.insert(args.end(), options.begin(), options.end());
        args.push_back(BusyboxImage::kName);
        args.insert(args.end(), command.begin(), command.end());
        return firstWord(docker_->dockerChecked(args));
    }
    RunResult exec(const std::string& name, const std::vector<std::string>& command) {
        std::vector<std::string> args{"exec", name};
        args.insert(args.end(), command.begin(), command.end());
        return docker_->docker(args);
    }
    std::string connect(const std::string& name, const std::string& proto, const std::string& ip,
                        int port) {
        return firstWord(
            exec(name, {"/net_probe", "connect", proto, ip, std::to_string(port)}).output);
    }
    std::string ipOf(const std::string& name) {
        return firstWord(docker_->dockerChecked(
            {"inspect", "--format", "{{.NetworkSettings.IPAddress}}", name}));
    }
};

TEST_F(E2eDocker, ContainersAreFoundWithNameAndLabelsAndSelectedByThem) {
    agent_->writePolicy("shop.yaml", kShopPolicy);
    agent_->writePolicy("db.yaml", kDbPolicy);
    agent_->start();
    const std::string web = start("web", {"--label", "app=shop", "--label", "tier=front"});
    const std::string db = start("db-1", {});

    const json entry = waitForContainer(web, json::array({"shop-egress"}));
    ASSERT_FALSE(entry.is_null()) << containers().dump(2);
    EXPECT_EQ(entry["policies"], json::array({"shop-egress"})) << entry.dump(2);
    EXPECT_EQ(entry["name"], "web");
    EXPECT_EQ(entry["runtime"], "docker");
    EXPECT_EQ(entry["labels"], (json{{"app", "shop"}, {"tier", "front"}}));
    EXPECT_TRUE(entry["cgroup"].get<std::string>().ends_with("/docker/" + web)) << entry["cgroup"];
    EXPECT_FALSE(entry.contains("metadataError")) << entry["metadataError"];
    EXPECT_EQ(waitForContainer(db, json::array({"db-deny"}))["policies"], json::array({"db-deny"}));

    EXPECT_EQ(connect("web", "tcp", kServer, 8080), "ok");
    EXPECT_TRUE(server_->waitForCount(1));
    const size_t before = agent_->events().size();
    EXPECT_EQ(connect("web", "tcp", kServer, 8081), "EPERM");
    EXPECT_EQ(connect("web", "udp", kServer, 53), "EPERM");
    EXPECT_EQ(connect("db-1", "tcp", kServer, 8080), "EPERM");

    const json denied = waitForKernelEvent("connect", web, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for web";
    EXPECT_EQ(denied["palisade"]["verdict"], "deny");
    EXPECT_EQ(denied["palisade"]["reason"], "not-allowlisted");
    EXPECT_EQ(denied["container"]["name"], "web");
    EXPECT_EQ(denied["container"]["runtime"], "docker");
    EXPECT_EQ(denied["rule"]["name"], "shop-egress");
    EXPECT_EQ(denied["process"]["name"], "net_probe");
    EXPECT_EQ(denied["destination"]["ip"], kServer);
    EXPECT_EQ(denied["destination"]["port"], 8081);
}

// Selection by id prefix and by runtime, of running containers, by a policy dropped in
// while they run (a hot reload).
TEST_F(E2eDocker, ARunningContainerIsSelectedByIdAndRuntimeAfterAReload) {
    agent_->start();
    const std::string one = start("one", {});
    const std::string two = start("two", {});
    ASSERT_FALSE(waitForContainer(one, json::array()).is_null());
    EXPECT_EQ(connect("one", "tcp", kServer, 8081), "ECONNREFUSED") << "unmatched: audit";

    agent_->writePolicy("by-id.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: by-id}
spec:
  selector: {id: ")" + one.substr(0, 12) + R"("}
  mode: enforce
  egress: []
)");
    agent_->writePolicy("by-runtime.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: by-runtime}
spec:
  selector: {runtime: docker}
  mode: enforce
  egress:
    - toCIDR: ["198.18.250.1/32"]
      ports: [{port: 8080, protocol: TCP}]
)");
    EXPECT_EQ(waitForContainer(one, json::array({"by-id", "by-runtime"}))["policies"],
              json::array({"by-id", "by-runtime"}));
    EXPECT_EQ(waitForContainer(two, json::array({"by-runtime"}))["policies"],
              json::array({"by-runtime"}));
    EXPECT_EQ(connect("one", "tcp", kServer, 8081), "EPERM");
    EXPECT_EQ(connect("two", "tcp", kServer, 8081), "EPERM");
    EXPECT_EQ(connect("two", "tcp", kServer, 8080), "ok");
}

TEST_F(E2eDocker, ContainersAreIsolatedButForTheirToContainersRule) {
    agent_->writePolicy("api.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: api}
  mode: enforce
  egress:
    - toContainers: {name: db}
      ports: [{port: 5432, protocol: TCP}]
)");
    agent_->writePolicy("db.yaml", kDbPolicy);
    agent_->start();
    const std::string api = start("api", {}, {"/net_probe", "listen", "8080", "600"});
    const std::string db = start("db", {}, {"/net_probe", "listen", "5432", "600"});
    const std::string apiIp = ipOf("api");
    const std::string dbIp = ipOf("db");
    const json apiEntry = waitForContainer(api, json::array({"api"}), apiIp);
    ASSERT_EQ(apiEntry["addresses"], json::array({apiIp})) << apiEntry.dump(2);
    const json dbEntry = waitForContainer(db, json::array({"db-deny"}), dbIp);
    ASSERT_EQ(dbEntry["addresses"], json::array({dbIp})) << dbEntry.dump(2);

    EXPECT_EQ(connect("api", "tcp", dbIp, 5432), "ok");
    EXPECT_EQ(connect("api", "tcp", dbIp, 5433), "EPERM");
    const size_t before = agent_->events().size();
    EXPECT_EQ(connect("db", "tcp", apiIp, 8080), "EPERM");
    const json denied = waitForKernelEvent("connect", db, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for db";
    EXPECT_EQ(denied["palisade"]["reason"], "inter-container");
    EXPECT_EQ(denied["destination"]["container"]["name"], "api");
    EXPECT_EQ(denied["destination"]["container"]["id"], api);
}

// A container that no policy selects (defaults.unmatched: audit lets it connect) is
// still a container: the receiver drops what no rule of the sender allows.
TEST_F(E2eDocker, AnUnmatchedContainerIsDroppedAtTheReceiver) {
    agent_->writePolicy("db.yaml", kDbPolicy);
    agent_->start();
    const std::string db = start("db", {}, {"/net_probe", "listen", "5432", "600"});
    const std::string stranger = start("stranger", {});
    const std::string dbIp = ipOf("db");
    const std::string strangerIp = ipOf("stranger");
    ASSERT_FALSE(waitForContainer(db, json::array({"db-deny"}), dbIp).is_null());
    ASSERT_FALSE(waitForContainer(stranger, json::array(), strangerIp).is_null());

    const size_t before = agent_->events().size();
    EXPECT_EQ(connect("stranger", "tcp", dbIp, 5432), "ETIMEDOUT");
    const json dropped = waitForKernelEvent("packet", db, before);
    ASSERT_FALSE(dropped.is_null()) << "no ingress event at db";
    EXPECT_EQ(dropped["palisade"]["mechanism"], "cgroup_skb/ingress");
    EXPECT_EQ(dropped["palisade"]["reason"], "inter-container");
    EXPECT_EQ(dropped["source"]["container"]["name"], "stranger");
}

// A container with NET_ADMIN adds to its own namespace the address docker gives the next
// container, before that one starts, and so is the first to hold it. Docker's record says
// whose it is: the next container's, and a rule that lets a client reach the thief does
// not reach the victim at that address.
TEST_F(E2eDocker, AnAddressGoesToTheContainerDockerGaveItNotToOneThatTookItFirst) {
    constexpr const char* kTaken = "198.18.250.3";  // docker's second address on docker0
    agent_->writePolicy("client.yaml", kClientToThiefPolicy);
    agent_->start();
    const std::string thief = start(
        "thief", {"--cap-add", "NET_ADMIN"},
        {"/bin/busybox", "sh", "-c",
         std::string("/bin/busybox ip addr add ") + kTaken + "/24 dev eth0 && exec sleep 600"});
    ASSERT_FALSE(waitForContainer(thief, json::array(), kTaken).is_null())
        << "the thief holds " << kTaken << " first: " << containers().dump(2);

    const std::string victim = start("victim", {}, {"/net_probe", "listen", "8080", "600"});
    ASSERT_EQ(ipOf("victim"), kTaken) << "docker gave the victim another address";
    const std::string client = start("client", {});
    ASSERT_FALSE(waitForContainer(client, json::array({"client"})).is_null());

    // Docker writes the address to config.v2.json once the container runs; the agent
    // reads it again when it first learns the container's namespace (at the latest at
    // its next resync, 10 s).
    auto [thiefEntry, victimEntry] = waitForAddressConflict(thief, victim, kTaken);
    EXPECT_EQ(victimEntry["addresses"], json::array({kTaken})) << victimEntry.dump(2);
    EXPECT_EQ(thiefEntry["addressConflicts"], (json{{kTaken, victim}})) << thiefEntry.dump(2);
    EXPECT_EQ(thiefEntry["addresses"], json::array({ipOf("thief")})) << thiefEntry.dump(2);

    const size_t before = agent_->events().size();
    EXPECT_EQ(connect("client", "tcp", kTaken, 8080), "EPERM");
    const json denied = waitForKernelEvent("connect", client, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for client";
    EXPECT_EQ(denied["palisade"]["reason"], "inter-container");
    EXPECT_EQ(denied["destination"]["container"]["id"], victim);
}

TEST_F(E2eDocker, SetuidExecIsRefused) {
    agent_->writePolicy("app.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: app}
spec:
  selector: {name: app}
  mode: enforce
  egress: []
  exec: {setuid: deny}
)");
    agent_->start();
    const std::string app = start("app", {"--user", "1000:1000"});
    ASSERT_EQ(waitForContainer(app, json::array({"app"}))["policies"], json::array({"app"}));

    const RunResult plain = exec("app", {"/exec_probe"});
    EXPECT_EQ(plain.exitCode, 0) << plain.output;
    EXPECT_NE(plain.output.find("euid=1000"), std::string::npos) << plain.output;

    const size_t before = agent_->events().size();
    const RunResult raised = exec("app", {"/setuid_probe"});
    EXPECT_EQ(raised.output.find("euid=0"), std::string::npos) << "ran as root: " << raised.output;
    const json event = waitForKernelEvent("exec", app, before);
    ASSERT_FALSE(event.is_null()) << "no exec event";
    EXPECT_EQ(event["palisade"]["verdict"], "deny");
    EXPECT_EQ(event["palisade"]["reason"], "setuid-exec");
    EXPECT_EQ(event["container"]["name"], "app");
    // BPF LSM refuses the exec (docker exec: 126, "permission denied"); the tracepoint
    // fallback kills the task before its first instruction (137 = 128 + SIGKILL).
    const bool lsm = event["palisade"]["enforcement"] == "eperm";
    EXPECT_EQ(raised.exitCode, lsm ? 126 : 137) << event.dump() << "\n" << raised.output;
}

TEST_F(E2eDocker, ContainerStartedAfterTheAgentIsEnforcedAtItsFirstConnect) {
    agent_->writePolicy("shop.yaml", kShopPolicy);
    agent_->start();
    for (int i = 0; i < 3; i++) {
        const RunResult r =
            docker_->docker({"run", "--rm", "--label", "app=shop", BusyboxImage::kName,
                             "/net_probe", "connect", "tcp", kServer, "8081"});
        EXPECT_EQ(firstWord(r.output), "EPERM") << "start " << i << ": " << r.output;
    }
    const RunResult allowed =
        docker_->docker({"run", "--rm", "--label", "app=shop", BusyboxImage::kName, "/net_probe",
                         "connect", "tcp", kServer, "8080"});
    EXPECT_EQ(firstWord(allowed.output), "ok") << allowed.output;
}

TEST_F(E2eDocker, ContainerRemovedUnderTrafficIsForgotten) {
    agent_->writePolicy("shop.yaml", kShopPolicy);
    agent_->start();
    // Denied connects as fast as the container makes them, for up to 60 s.
    const std::string busy =
        start("busy", {"--label", "app=shop"},
              {"sh", "-c",
               "i=0; while [ $i -lt 20000 ]; do /net_probe connect tcp 198.18.250.1 8081 "
               ">/dev/null; i=$((i+1)); done"});
    ASSERT_FALSE(waitForKernelEvent("connect", busy).is_null()) << "no traffic from busy";

    const size_t before = agent_->events().size();
    docker_->dockerChecked({"rm", "--force", "busy"});
    EXPECT_TRUE(waitUntilForgotten(busy)) << containers().dump(2);
    const json stopped = agent_->waitForEvent(
        [&](const json& e) {
            return e["event"]["action"] == "container-stopped" &&
                   e["container"].value("id", "") == busy;
        },
        std::chrono::seconds(5), before);
    EXPECT_FALSE(stopped.is_null()) << "no container-stopped event";

    // The agent goes on: the next container is enforced.
    const std::string next = start("next", {"--label", "app=shop"});
    ASSERT_EQ(waitForContainer(next, json::array({"shop-egress"}))["policies"],
              json::array({"shop-egress"}));
    EXPECT_EQ(connect("next", "tcp", kServer, 8081), "EPERM");
    EXPECT_EQ(connect("next", "tcp", kServer, 8080), "ok");
}

TEST_F(E2eDocker, EnforcementHoldsWhileTheAgentIsAwayAndAfterItsRestart) {
    agent_->writePolicy("shop.yaml", kShopPolicy);
    agent_->start();
    const std::string web = start("web", {"--label", "app=shop"});
    ASSERT_EQ(waitForContainer(web, json::array({"shop-egress"}))["policies"],
              json::array({"shop-egress"}));
    ASSERT_EQ(agent_->stop(), 0) << agent_->stderrText();

    EXPECT_EQ(connect("web", "tcp", kServer, 8081), "EPERM") << "while the agent is stopped";
    EXPECT_EQ(connect("web", "tcp", kServer, 8080), "ok") << "while the agent is stopped";
    // A container started while the agent is away is found when it comes back.
    const std::string late = start("late", {"--label", "app=shop"});

    agent_->start();
    for (const char* name : {"web", "late"}) {
        const std::string id = name == std::string("web") ? web : late;
        EXPECT_EQ(waitForContainer(id, json::array({"shop-egress"}))["policies"],
                  json::array({"shop-egress"}))
            << name;
        EXPECT_EQ(connect(name, "tcp", kServer, 8081), "EPERM") << name;
        EXPECT_EQ(connect(name, "tcp", kServer, 8080), "ok") << name;
    }
}

// `docker run --network host`: the container shares dockerd's network namespace, which is the
// host's (the agent runs there too, as the unit and the DaemonSet run it in the node's).
// Loopback there reaches the host's own services, so it is judged like any address.
TEST_F(E2eDocker, HostNetworkContainerCannotReachTheHostsLoopbackServices) {
    agent_->netns() = sandbox_->bridgeNetns();
    agent_->writePolicy("shop.yaml", kShopPolicy);
    agent_->start();
    // A service of the host's, on its loopback only.
    Server local =
        Server::start({sandbox_->bridgeNetns(), ""}, 0, SOCK_STREAM, {.bindAddress = "127.0.0.1"});
    const std::string hostnet = start("hostnet", {"--network", "host", "--label", "app=shop"});
    ASSERT_EQ(waitForContainer(hostnet, json::array({"shop-egress"}))["policies"],
              json::array({"shop-egress"}));

    const size_t before = agent_->events().size();
    EXPECT_EQ(connect("hostnet", "tcp", "127.0.0.1", local.port()), "EPERM");
    EXPECT_EQ(connect("hostnet", "tcp", "::1", local.port()), "EPERM");
    EXPECT_EQ(local.count(), 0) << "the host's loopback service was reached";
    const json denied = waitForKernelEvent("connect", hostnet, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for hostnet";
    EXPECT_EQ(denied["destination"]["ip"], "127.0.0.1");
    EXPECT_EQ(denied["palisade"]["reason"], "not-allowlisted");
    EXPECT_EQ(connect("hostnet", "tcp", kServer, 8080), "ok") << "its allowlist still holds";

    // In a network namespace of its own, a container's loopback is its own.
    start("web", {"--label", "app=shop"}, {"/net_probe", "listen", "9999", "600"});
    EXPECT_EQ(connect("web", "tcp", "127.0.0.1", 9999), "ok");
}

}  // namespace
}  // namespace palisade::test
