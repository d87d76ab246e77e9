// palisade against real podman (Debian's, with runc and the cgroupfs manager), with
// storage of the test's own (runtimes.h): containers found with their name and labels,
// selected by them and enforced, also from their first instruction; and the addresses podman
// gave a container are its own.
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e.h"

namespace palisade::test {
namespace {

using nlohmann::json;

class E2ePodman : public E2E {
  protected:
    void SetUp() override {
        E2E::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        usePodman();
    }
    // `podman run` of the image in the tree and the network `net`, with `options`.
    RunResult run(const std::string& net, const std::vector<std::string>& options,
                  const std::vector<std::string>& command) {
        std::vector<std::string> args{"run"};
        for (const std::string& o : podman_->placement(sandbox_->addNetwork(net))) {
            args.push_back(o);
        }
        args.insert(args.end(), options.begin(), options.end());
        args.push_back(BusyboxImage::kName);
        args.insert(args.end(), command.begin(), command.end());
        return podman_->podman(args);
    }
    // `podman run --detach` on Podman::kCniNetwork; the container's id.
    std::string startOnCniNetwork(const std::string& name, const std::vector<std::string>& options,
                                  const std::vector<std::string>& command) {
        std::vector<std::string> args{"run", "--detach", "--name", name};
        for (const std::string& o : podman_->placementOnCniNetwork()) args.push_back(o);
        args.insert(args.end(), options.begin(), options.end());
        args.push_back(BusyboxImage::kName);
        args.insert(args.end(), command.begin(), command.end());
        return firstWord(podman_->podmanChecked(args));
    }
    std::string connect(const std::string& name, int port) {
        return firstWord(podman_
                             ->podman({"exec", name, "/net_probe", "connect", "tcp",
                                       sandbox_->bridgeIp4(), std::to_string(port)})
                             .output);
    }
};

TEST_F(E2ePodman, ContainersAreFoundWithNameAndLabelsAndSelectedByThem) {
    agent_->writePolicy("web.yaml", kWebPolicy);
    agent_->writePolicy("db.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db-deny}
spec:
  selector: {labels: {tier: db}}
  mode: enforce
  egress: []
)");
    agent_->start();
    const RunResult web =
        run("web", {"--detach", "--name", "web", "--label", "app=shop"}, {"sleep", "600"});
    ASSERT_TRUE(web.ok()) << web.output;
    const RunResult db =
        run("db", {"--detach", "--name", "db", "--label", "tier=db"}, {"sleep", "600"});
    ASSERT_TRUE(db.ok()) << db.output;
    const std::string webId = firstWord(web.output);

    const json entry = waitForContainer(webId, json::array({"web"}));
    ASSERT_FALSE(entry.is_null()) << containers().dump(2);
    EXPECT_EQ(entry["policies"], json::array({"web"})) << entry.dump(2);
    EXPECT_EQ(entry["runtime"], "podman");
    EXPECT_EQ(entry["name"], "web");
    EXPECT_EQ(entry["labels"], (json{{"app", "shop"}}));
    EXPECT_TRUE(entry["cgroup"].get<std::string>().ends_with("/libpod-" + webId))
        << entry["cgroup"];
    EXPECT_FALSE(entry.contains("metadataError")) << entry["metadataError"];
    EXPECT_EQ(waitForContainer(firstWord(db.output), json::array({"db-deny"}))["policies"],
              json::array({"db-deny"}));

    EXPECT_EQ(connect("web", 8080), "ok");
    const size_t before = agent_->events().size();
    EXPECT_EQ(connect("web", 8081), "EPERM");
    EXPECT_EQ(connect("db", 8080), "EPERM");
    const json denied = waitForKernelEvent("connect", webId, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for web";
    EXPECT_EQ(denied["container"]["name"], "web");
    EXPECT_EQ(denied["container"]["runtime"], "podman");
    EXPECT_EQ(denied["rule"]["name"], "web");
}

TEST_F(E2ePodman, ContainerStartedAfterTheAgentIsEnforcedAtItsFirstConnect) {
    agent_->writePolicy("web.yaml", kWebPolicy);
    agent_->start();
    for (int i = 0; i < 3; i++) {
        const RunResult r =
            run("web" + std::to_string(i), {"--rm", "--name", "web" + std::to_string(i)},
                {"/net_probe", "connect", "tcp", sandbox_->bridgeIp4(), "8081"});
        EXPECT_EQ(firstWord(r.output), "EPERM") << "start " << i << ": " << r.output;
    }
}

// docs/reference/enforcement.md#inter-container: the address podman gave a container (its
// ContainerState in podman's database, which no container can write) is that container's,
// though another container added it to its own namespace first (issue 17, item 4).
TEST_F(E2ePodman, AnAddressGoesToTheContainerPodmanGaveItNotToOneThatTookItFirst) {
    // host-local gives .2, then .3, from the instance's own, empty, IPAM directory.
    const std::string taken = std::string(Podman::kCniSubnet) + ".3";
    agent_->writePolicy("client.yaml", kClientToThiefPolicy);
    agent_->start();
    const std::string thief =
        startOnCniNetwork("thief", {"--cap-add", "NET_ADMIN"},
                          {"/bin/busybox", "sh", "-c",
                           "/bin/busybox ip addr add " + taken + "/24 dev eth0 && exec sleep 600"});
    ASSERT_FALSE(waitForContainer(thief, json::array(), taken).is_null())
        << "the thief holds " << taken << " first: " << containers().dump(2);

    const std::string victim =
        startOnCniNetwork("victim", {}, {"/net_probe", "listen", "8080", "600"});
    const std::string given =
        firstWord(podman_->podmanChecked({"inspect", "--format",
                                          std::string("{{(index .NetworkSettings.Networks \"") +
                                              Podman::kCniNetwork + "\").IPAddress}}",
                                          "victim"}));
    ASSERT_EQ(given, taken) << "podman gave the victim another address";
    const std::string client = startOnCniNetwork("client", {}, {"sleep", "600"});
    ASSERT_FALSE(waitForContainer(client, json::array({"client"})).is_null());

    // Podman records the address once the container runs; the agent reads its record
    // again when it first learns the container's namespace.
    auto [thiefEntry, victimEntry] = waitForAddressConflict(thief, victim, taken);
    // (Beside it each holds its IPv6 link-local address.)
    EXPECT_EQ(victimEntry["recordedAddresses"], json::array({taken})) << victimEntry.dump(2);
    EXPECT_TRUE(holdsAddress(victimEntry, taken)) << victimEntry.dump(2);
    EXPECT_FALSE(holdsAddress(thiefEntry, taken)) << thiefEntry.dump(2);
    EXPECT_EQ(thiefEntry["addressConflicts"], (json{{taken, victim}})) << thiefEntry.dump(2);

    const size_t before = agent_->events().size();
    const RunResult r =
        podman_->podman({"exec", "client", "/net_probe", "connect", "tcp", taken, "8080"});
    EXPECT_EQ(firstWord(r.output), "EPERM") << r.output;
    const json denied = waitForKernelEvent("connect", client, before);
    ASSERT_FALSE(denied.is_null()) << "no connect event for client";
    EXPECT_EQ(denied["palisade"]["reason"], "inter-container");
    EXPECT_EQ(denied["destination"]["container"]["id"], victim);
}

}  // namespace
}  // namespace palisade::test
