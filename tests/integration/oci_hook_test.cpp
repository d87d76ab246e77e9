// The await-container request of `palisade oci-hook` against the real agent: a
// container whose cgroup just appeared is in force when the answer comes, whoever
// (the request or inotify's notice) found it first; anything else is said not to be
// a container, and the hook lets it start.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "agent_process.h"
#include "control/control_client.h"
#include "egress_cases.h"
#include "harness.h"

namespace palisade::test {
namespace {

using nlohmann::json;

class OciHookAgent : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->writePolicy("table.yaml", kEgressTablePolicy);
        // A container no policy selects (no metadata here) is denied everything.
        agent_->extraConfig() = "defaults:\n  unmatched: deny\n";
        agent_->start();
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
    }
    // `palisade oci-hook` with the state a runtime would send for `pid`.
    RunResult hook(pid_t pid) {
        const std::string state = json{
            {"ociVersion", "1.0.2"},
            {"id", "hooked"},
            {"status", "creating"},
            {"pid", pid},
            {"bundle",
             "/nonexistent"}}.dump();
        return run({"sh", "-c", "printf %s \"$1\" | exec \"$2\" oci-hook --config \"$3\"", "sh",
                    state, PALISADE_BINARY, agent_->configPath()});
    }
    std::string socket() const { return agent_->dir() + "/palisade.sock"; }

    std::unique_ptr<Sandbox> sandbox_;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(OciHookAgent, ANewContainerIsInForceWhenTheHookReturns) {
    Container& late = sandbox_->addContainer("late");
    // The container's first process, as runc's init waits in the cgroup.
    Server first = Server::start(late.placement(), 0, SOCK_STREAM);
    const RunResult r = hook(first.pid());
    ASSERT_TRUE(r.ok()) << r.exitCode << ": " << r.output;
    EXPECT_EQ(r.output, "");
    // No polling: in force when the hook returned.
    EXPECT_EQ(late.connectErrno("198.18.0.1", 443), EPERM);
    const RunResult list =
        run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
    ASSERT_TRUE(list.ok()) << list.output;
    bool listed = false;
    for (const json& c : json::parse(list.output)) {
        if (c["id"] != late.id) continue;
        listed = true;
        EXPECT_EQ(c["policies"], json::array());
        EXPECT_EQ(c["cgroupId"], late.cgroupId);
    }
    EXPECT_TRUE(listed) << list.output;

    // Asked again (the runtime retries, or inotify found it first): the same answer.
    const json again =
        controlRequest(socket(), {{"cmd", "await-container"}, {"cgroupId", late.cgroupId}});
    EXPECT_EQ(again["status"], "enforced") << again.dump();
    EXPECT_EQ(again["container"]["id"], late.id);
    EXPECT_EQ(again["container"]["runtime"], "docker");
    EXPECT_EQ(again["policies"], json::array());
    EXPECT_GE(again["generation"].get<uint64_t>(), 1u);
}

TEST_F(OciHookAgent, WhatIsNotAContainerBelowTheRootIsSaidSoAndStarts) {
    // The tree's own root, and the test process's cgroup (outside the tree).
    const json root = controlRequest(
        socket(), {{"cmd", "await-container"}, {"cgroupId", sandbox_->cgroups().id()}});
    EXPECT_EQ(root["status"], "not-a-container") << root.dump();
    EXPECT_NE(root["reason"].get<std::string>().find(sandbox_->cgroups().path()), std::string::npos)
        << root.dump();
    const RunResult r = hook(getpid());
    EXPECT_TRUE(r.ok()) << r.exitCode << ": " << r.output;
    EXPECT_EQ(r.output, "");
}

TEST_F(OciHookAgent, ABadRequestIsAnErrorReply) {
    EXPECT_THROW(controlRequest(socket(), {{"cmd", "await-container"}, {"cgroupId", 0}}),
                 std::runtime_error);
    // The agent goes on serving.
    const json status = controlRequest(socket(), {{"cmd", "status"}});
    EXPECT_TRUE(status.contains("generation"));
}

}  // namespace
}  // namespace palisade::test
