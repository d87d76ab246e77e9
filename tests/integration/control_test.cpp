// `palisade status`, `containers` and `events` against a running agent.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <fstream>
#include <set>
#include <thread>
#include <utility>

#include "agent_process.h"
#include "egress_cases.h"
#include "harness.h"

namespace palisade::test {
namespace {

using nlohmann::json;

class Control : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        client_ = &sandbox_->addContainer("client-1");
        stranger_ = &sandbox_->addContainer("stranger");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*client_);
        agent_->describe(*stranger_);
        agent_->writePolicy("table.yaml", kEgressTablePolicy);
        agent_->start();
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
    }
    RunResult cli(std::vector<std::string> args) {
        args.insert(args.begin(), PALISADE_BINARY);
        args.insert(args.end(), {"--config", agent_->configPath()});
        return run(args);
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* client_ = nullptr;
    Container* stranger_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Control, SocketIsRootOnly) {
    struct stat st {};
    ASSERT_EQ(stat((agent_->dir() + "/palisade.sock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(Control, ContainersJsonListsIdentityCgroupAndPolicies) {
    RunResult r = cli({"containers", "--json"});
    ASSERT_TRUE(r.ok()) << r.output;
    json list = json::parse(r.output);
    ASSERT_EQ(list.size(), 2u);
    for (const auto& c : list) {
        if (c["name"] == "client-1") {
            EXPECT_EQ(c["id"], client_->id);
            EXPECT_EQ(c["runtime"], "docker");
            EXPECT_EQ(c["cgroup"], client_->cgroupPath);
            EXPECT_EQ(c["cgroupId"], client_->cgroupId);
            EXPECT_EQ(c["policies"], json::array({"egress-table"}));
        } else {
            EXPECT_EQ(c["name"], "stranger");
            EXPECT_EQ(c["policies"], json::array());
        }
    }
    RunResult text = cli({"containers"});
    ASSERT_TRUE(text.ok());
    EXPECT_NE(text.output.find("egress-table"), std::string::npos);
    EXPECT_NE(text.output.find("(unmatched)"), std::string::npos);
}

TEST_F(Control, StatusShowsProgramsPoliciesAndCounters) {
    EXPECT_EQ(client_->connectErrno("198.18.1.1", 443), EPERM);
    RunResult r = cli({"status", "--json"});
    ASSERT_TRUE(r.ok()) << r.output;
    json s = json::parse(r.output);
    EXPECT_EQ(s["cgroupRoot"], sandbox_->cgroups().path());
    EXPECT_EQ(s["generation"], 1);
    EXPECT_TRUE(s["features"]["cgroup-sock-addr"].get<bool>());
    // The kernel, and each variant it made the agent choose (docs/kernels.md): a
    // fallback is named exactly when its feature is missing, and a feature this kernel
    // version has must be found.
    utsname u{};
    ASSERT_EQ(uname(&u), 0);
    EXPECT_EQ(s["kernel"], u.release);
    int major = 0, minor = 0;
    ASSERT_EQ(sscanf(u.release, "%d.%d", &major, &minor), 2);
    struct Variant {
        const char* feature;
        const char* fallback;
        int since[2];  // the kernel version from which it must be found; 0: none known
    };
    for (const Variant& v : {Variant{"tracing-ancestor-cgroup", "cgroupAncestors", {6, 1}},
                             Variant{"hostNetnsCookie", "hostLoopback", {5, 14}},
                             Variant{"skb-current-task", "packetEventTask", {0, 0}}}) {
        ASSERT_TRUE(s["features"][v.feature].is_boolean()) << v.feature;
        const bool have = s["features"][v.feature].get<bool>();
        EXPECT_EQ(s["fallbacks"].contains(v.fallback), !have) << v.feature;
        if (v.since[0] && std::pair{major, minor} >= std::pair{v.since[0], v.since[1]}) {
            EXPECT_TRUE(have) << v.feature << " on " << u.release;
        }
    }
    std::set<std::string> hooks;
    for (const auto& p : s["programs"]) hooks.insert(p["hook"].get<std::string>());
    for (const char* h : {"cgroup/connect4", "cgroup/connect6", "cgroup/sendmsg4",
                          "cgroup/sendmsg6", "cgroup/sock_create", "cgroup_skb/egress"}) {
        EXPECT_TRUE(hooks.count(h)) << h;
    }
    ASSERT_EQ(s["policies"].size(), 1u);
    EXPECT_EQ(s["policies"][0]["name"], "egress-table");
    EXPECT_EQ(s["policies"][0]["sha256"].get<std::string>().size(), 64u);
    EXPECT_GE(s["counters"]["verdicts"]["cgroup/connect4"]["deny"].get<int>(), 1);
    EXPECT_TRUE(cli({"status"}).ok());
}

TEST_F(Control, EventsFollowStreamsFilteredEvents) {
    std::string out = agent_->dir() + "/follow.out";
    std::thread follower([&] {
        run({"sh", "-c",
             std::string("timeout 3 ") + PALISADE_BINARY + " events --follow --config " +
                 agent_->configPath() + " --filter palisade.reason=except > " + out},
            std::chrono::seconds(5));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(client_->connectErrno("198.18.1.1", 443), EPERM);    // not-allowlisted
    EXPECT_EQ(client_->connectErrno("198.18.0.200", 443), EPERM);  // except
    follower.join();
    std::ifstream in(out);
    std::vector<json> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["destination"]["ip"], "198.18.0.200");

    RunResult recent = cli({"events", "--filter", "destination.ip=198.18.1.1"});
    ASSERT_TRUE(recent.ok());
    EXPECT_NE(recent.output.find("not-allowlisted"), std::string::npos);
    EXPECT_EQ(cli({"events", "--filter", "nonsense"}).exitCode, 1);
}

TEST_F(Control, CommandsSayWhenNoAgentRuns) {
    agent_->stop();
    RunResult r = cli({"status"});
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_NE(r.output.find("cannot reach the agent"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace palisade::test
