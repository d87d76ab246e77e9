// docs/reference/state-and-lifecycle.md#stop-and-restart restart continuity on the real kernel: a
// SIGKILLed agent leaves enforcement in force, and the restarted agent adopts its pins (same links
// and maps, updated in place) while a container keeps connecting.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "agent_process.h"
#include "bpf_pins.h"
#include "harness.h"

namespace palisade::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAllowed = "198.18.0.200";
constexpr const char* kDenied = "198.18.1.1";

std::string policyAllowing(const std::string& extraCidr = "") {
    std::string cidrs =
        "[\"198.18.0.200/32\"" + (extraCidr.empty() ? "" : ", \"" + extraCidr + "\"") + "]";
    return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: client}\n"
           "spec:\n  selector: {name: client-1}\n  egress:\n    - toCIDR: " +
           cidrs + "\n      ports: [{port: 443, protocol: TCP}]\n";
}

const std::vector<std::pair<const char*, bpf_attach_type>> kHooks = {
    {"pal_connect4", BPF_CGROUP_INET4_CONNECT},       {"pal_connect6", BPF_CGROUP_INET6_CONNECT},
    {"pal_sendmsg4", BPF_CGROUP_UDP4_SENDMSG},        {"pal_sendmsg6", BPF_CGROUP_UDP6_SENDMSG},
    {"pal_sock_create", BPF_CGROUP_INET_SOCK_CREATE}, {"pal_skb_egress", BPF_CGROUP_INET_EGRESS}};

struct Pins {
    std::map<std::string, uint32_t> links, maps;
};

Pins pinsOf(const std::string& stateDir) {
    Pins p;
    for (const auto& [name, type] : kHooks) p.links[name] = pinnedId(stateDir + "/links/" + name);
    for (const char* m : {"pal_cgroups", "pal_lpm4", "pal_counters", "pal_events"}) {
        p.maps[m] = pinnedId(stateDir + "/maps/" + m);
    }
    return p;
}

class Restart : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        sandbox_->addExternalAddress(std::string(kAllowed) + "/32");
        sandbox_->addExternalAddress(std::string(kDenied) + "/32");
        server_ = std::make_unique<Server>(sandbox_->listenOnBridge(443));
        client_ = &sandbox_->addContainer("client-1");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*client_);
        agent_->writePolicy("client.yaml", policyAllowing());
    }
    void TearDown() override {
        agent_.reset();
        server_.reset();
        sandbox_.reset();
    }

    // Connects from the container for `duration`, alternating the allowed and
    // the denied destination; returns "attempts wrong".
    std::future<std::string> trafficFor(std::chrono::milliseconds duration) {
        return std::async(std::launch::async, [this, duration] {
            return client_->inContainerStr(
                [duration] {
                    int attempts = 0, wrong = 0;
                    auto end = std::chrono::steady_clock::now() + duration;
                    while (std::chrono::steady_clock::now() < end && attempts < 20000) {
                        if (connectErrnoHere(kAllowed, 443, SOCK_STREAM, 1000ms) != 0) wrong++;
                        if (connectErrnoHere(kDenied, 443, SOCK_STREAM, 1000ms) != EPERM) wrong++;
                        attempts += 2;
                        std::this_thread::sleep_for(2ms);
                    }
                    return std::to_string(attempts) + " " + std::to_string(wrong);
                },
                duration + 10s);
        });
    }

    std::unique_ptr<Sandbox> sandbox_;
    std::unique_ptr<Server> server_;
    Container* client_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Restart, SigkilledAgentIsAdoptedWithoutAGapOrADuplicate) {
    agent_->start();
    const Pins before = pinsOf(agent_->stateDir());
    std::map<std::string, std::vector<uint32_t>> progsBefore;
    for (const auto& [name, type] : kHooks) {
        progsBefore[name] = attachedAt(sandbox_->cgroups().path(), type);
        ASSERT_EQ(progsBefore[name].size(), 1u) << name;
    }

    auto traffic = trafficFor(4s);
    std::this_thread::sleep_for(1s);
    agent_->kill9();
    std::this_thread::sleep_for(1s);  // enforcement with no agent at all
    agent_->start();
    std::istringstream result(traffic.get());
    int attempts = 0, wrong = 0;
    result >> attempts >> wrong;
    EXPECT_GT(attempts, 100);
    EXPECT_EQ(wrong, 0) << "of " << attempts << " connects, some got the wrong verdict";

    // The same links and maps, the programs replaced in place: one per hook.
    const Pins after = pinsOf(agent_->stateDir());
    EXPECT_EQ(after.links, before.links);
    EXPECT_EQ(after.maps, before.maps);
    for (const auto& [name, type] : kHooks) {
        auto now = attachedAt(sandbox_->cgroups().path(), type);
        ASSERT_EQ(now.size(), 1u) << name << " attached twice or not at all";
        EXPECT_NE(now[0], progsBefore[name][0]) << name << " was not replaced by the new agent";
    }
    EXPECT_NE(agent_->stderrText().find("adopted the maps"), std::string::npos);
}

TEST_F(Restart, PolicyChangedWhileDownIsAppliedOnAdoption) {
    agent_->start();
    ASSERT_EQ(client_->connectErrno(kDenied, 443), EPERM);
    agent_->kill9();
    agent_->writePolicy("client.yaml", policyAllowing(std::string(kDenied) + "/32"));
    agent_->start();
    EXPECT_EQ(client_->connectErrno(kDenied, 443), 0);
    EXPECT_EQ(client_->connectErrno(kAllowed, 443), 0);
    EXPECT_EQ(client_->connectErrno("198.18.0.1", 443), EPERM);
}

}  // namespace
}  // namespace palisade::test
