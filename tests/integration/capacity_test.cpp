// docs/reference/enforcement.md#capacity on the real kernel: the maps' sizes come from
// `limits`, a start whose policy set they cannot hold runs with the files that fit (and
// again after a restart: no crash loop), changed limits are new maps at the next start,
// containers beyond pal_cgroups wait, named, and full address maps are said while the agent
// goes on.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "agent_process.h"
#include "harness.h"

namespace palisade::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kA = "198.18.1.1";  // allowed by a.yaml
constexpr const char* kB = "198.18.1.2";  // allowed by b.yaml

// client-1 may reach `host` on 443, and `filler` /32s nothing goes to.
std::string policy(const std::string& name, const std::string& host, int filler = 0) {
    std::string cidrs = "\"" + host + "/32\"";
    for (int i = 0; i < filler; i++) {
        cidrs +=
            ", \"198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "/32\"";
    }
    return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: " + name +
           "}\nspec:\n  selector: {name: \"client-*\"}\n  egress:\n    - toCIDR: [" + cidrs +
           "]\n      ports: [{port: 443, protocol: TCP}]\n";
}

class Capacity : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        for (const char* ip : {kA, kB}) sandbox_->addExternalAddress(std::string(ip) + "/32");
        server_ = std::make_unique<Server>(sandbox_->listenOnBridge(443));
        client_ = &sandbox_->addContainer("client-1");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*client_);
    }
    void TearDown() override {
        agent_.reset();
        server_.reset();
        sandbox_.reset();
    }

    std::vector<std::string> policiesInForce() {
        std::vector<std::string> names;
        const json s = agent_->status();
        for (const auto& p : s["policies"]) names.push_back(p["name"]);
        return names;
    }

    std::unique_ptr<Sandbox> sandbox_;
    std::unique_ptr<Server> server_;
    Container* client_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
};

// Issue 19: a file too big for the maps used to end the agent at every start.
TEST_F(Capacity, AStartTooLargeForTheMapsRunsWithTheFilesThatFit) {
    agent_->extraConfig() = "limits: {prefixes: 1000}\n";
    agent_->writePolicy("a.yaml", policy("a", kA));
    agent_->writePolicy("b.yaml", policy("b", kB, 1500));
    for (int start = 0; start < 2; start++) {  // the second adopts the maps of the first
        SCOPED_TRACE(start ? "restarted" : "first start");
        agent_->start();
        EXPECT_EQ(client_->connectErrno(kA, 443), 0);
        EXPECT_EQ(client_->connectErrno(kB, 443), EPERM);
        const json s = agent_->status();
        EXPECT_EQ(policiesInForce(), std::vector<std::string>{"a"});
        const std::string why = s["policiesNotInForce"].value(agent_->dir() + "/policies.d/b.yaml",
                                                              std::string("(in force)"));
        EXPECT_NE(why.find("pal_hosts4 needs 1502 entries, has room for 999 (1000 in all, 1 held "
                           "by the generation in "
                           "force)"),
                  std::string::npos)
            << s["policiesNotInForce"].dump();
        const json rejected = agent_->waitForEvent([](const json& e) {
            return e["event"]["action"] == "policy-rejected" &&
                   e["palisade"]["error"].get<std::string>().find("left out at start") !=
                       std::string::npos;
        });
        ASSERT_FALSE(rejected.is_null()) << agent_->stderrText();
        EXPECT_EQ(rejected["palisade"]["files"].size(), 1u);
        EXPECT_EQ(agent_->stop(), 0);
    }

    // Default limits: the pinned maps are too small, new ones are made, and b.yaml fits.
    agent_->extraConfig().clear();
    agent_->start();
    EXPECT_NE(agent_->stderrText().find("holds 1000 entries, this build and its limits want "
                                        "262144: the maps start empty"),
              std::string::npos)
        << agent_->stderrText();
    EXPECT_EQ(client_->connectErrno(kB, 443), 0);
    EXPECT_EQ(policiesInForce(), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(agent_->status()["policiesNotInForce"].empty());
}

// A set that fills more than half a map fits in empty maps but not beside itself: a restart
// that adopted its pinned generation takes it whole into new maps, never a part of it.
TEST_F(Capacity, ARestartKeepsASetThatFitsOnlyInEmptyMaps) {
    agent_->extraConfig() = "limits: {prefixes: 1000}\n";
    agent_->writePolicy("b.yaml", policy("b", kB, 600));
    for (int start = 0; start < 2; start++) {
        SCOPED_TRACE(start ? "restarted" : "first start");
        agent_->start();
        EXPECT_EQ(client_->connectErrno(kB, 443), 0);
        EXPECT_EQ(client_->connectErrno(kA, 443), EPERM);
        EXPECT_EQ(policiesInForce(), std::vector<std::string>{"b"});
        EXPECT_TRUE(agent_->status()["policiesNotInForce"].empty());
        EXPECT_TRUE(
            agent_
                ->waitForEvent(
                    [](const json& e) { return e["event"]["action"] == "policy-rejected"; }, 200ms)
                .is_null());
        EXPECT_EQ(agent_->stop(), 0);
    }
    EXPECT_NE(agent_->stderrText().find("new maps take it"), std::string::npos)
        << agent_->stderrText();
}

TEST_F(Capacity, ATooLargeStartIsRefusedWhenConfiguredSo) {
    agent_->extraConfig() = "limits: {prefixes: 1000, tooLargeAtStart: refuse}\n";
    agent_->writePolicy("b.yaml", policy("b", kB, 1500));
    EXPECT_EQ(agent_->startExpectingExit(), 2);
    EXPECT_NE(agent_->stderrText().find("the initial policy set cannot be applied"),
              std::string::npos)
        << agent_->stderrText();
}

// More container addresses than pal_addr4 holds: what fits is written, the rest is said in
// the log and in `status`, and the agent goes on.
TEST_F(Capacity, FullAddressMapsAreSaidAndTheAgentGoesOn) {
    Container& second = sandbox_->addContainer("client-2");
    agent_->describe(second);
    // A process in each container's cgroup: the agent finds its network namespace through it.
    const Server first = client_->listen(9000, SOCK_STREAM, true);
    const Server other = second.listen(9000, SOCK_STREAM, true);
    agent_->extraConfig() = "limits: {addresses: 1}\n";
    agent_->writePolicy("a.yaml", policy("a", kA));
    agent_->start();
    std::string said;
    for (int i = 0; i < 50 && said.empty(); i++) {
        said = agent_->status()["fallbacks"].value("interContainerCapacity", "");
        if (said.empty()) std::this_thread::sleep_for(100ms);
    }
    EXPECT_NE(said.find("pal_addr4 is full: 1 of 2 addresses left out (limits.addresses)"),
              std::string::npos)
        << said;
    EXPECT_EQ(client_->connectErrno(kA, 443), 0);
    EXPECT_EQ(kill(agent_->pid(), 0), 0) << "the agent goes on";
}

// More containers than limits.containers used to fail the start: now the oldest are
// enforced and the rest named, and the agent runs.
TEST_F(Capacity, MoreContainersThanTheMapHoldsStartAndTheOldestAreEnforced) {
    Container& second = sandbox_->addContainer("client-2");
    agent_->describe(second);
    ASSERT_LT(client_->cgroupId, second.cgroupId) << "cgroup ids grow with creation";
    agent_->extraConfig() = "limits: {containers: 1}\n";
    agent_->writePolicy("a.yaml", policy("a", kA));
    agent_->start();
    EXPECT_EQ(client_->connectErrno(kA, 443), 0);
    EXPECT_EQ(client_->connectErrno(kB, 443), EPERM) << "the oldest container is enforced";
    EXPECT_EQ(second.connectErrno(kB, 443), 0) << "no room: not enforced";
    const json e = agent_->waitForEvent([&](const json& ev) {
        return ev["event"].value("action", "") == "policy-rejected" &&
               ev["palisade"].value("cgroupId", uint64_t{0}) == second.cgroupId;
    });
    ASSERT_FALSE(e.is_null()) << "the container left out is not named";
    EXPECT_NE(e["palisade"]["error"].get<std::string>().find("limits.containers"),
              std::string::npos)
        << e.dump();
    EXPECT_EQ(policiesInForce(), std::vector<std::string>{"a"}) << "no policy is at fault";
    EXPECT_EQ(kill(agent_->pid(), 0), 0) << "the agent goes on";
}

}  // namespace
}  // namespace palisade::test
