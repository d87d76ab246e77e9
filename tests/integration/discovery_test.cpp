// docs/reference/state-and-lifecycle.md#containers container discovery while the agent runs:
// cgroups created and removed under cgroupRoot reach the kernel maps through inotify, without
// leaks.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "agent_process.h"
#include "bpf_pins.h"
#include "harness.h"

namespace palisade::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kDenied = "198.18.1.1";

// Every docker container gets this: nothing but 198.18.0.200:443.
constexpr const char* kDockerPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: docker-default}
spec:
  selector: {runtime: docker}
  egress:
    - toCIDR: ["198.18.0.200/32"]
      ports: [{port: 443, protocol: TCP}]
)";

std::string hexId(int n) {
    char buf[65];
    snprintf(buf, sizeof(buf), "%064x", n);
    return buf;
}

long rssKb(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

class Discovery : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        sandbox_->addExternalAddress(std::string(kDenied) + "/32");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->writePolicy("docker.yaml", kDockerPolicy);
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
    }

    std::string cgroupsMap() const { return agent_->stateDir() + "/maps/pal_cgroups"; }
    size_t mapped() const { return pinnedMapKeys<uint64_t>(cgroupsMap()).size(); }
    bool isMapped(uint64_t cgid) const {
        auto keys = pinnedMapKeys<uint64_t>(cgroupsMap());
        return std::find(keys.begin(), keys.end(), cgid) != keys.end();
    }
    // Polls (bounded) until the map holds `n` containers.
    bool waitMapped(size_t n, std::chrono::milliseconds timeout = 5s) const {
        auto end = SteadyClock::now() + timeout;
        while (mapped() != n) {
            if (SteadyClock::now() > end) return false;
            std::this_thread::sleep_for(1ms);
        }
        return true;
    }

    std::unique_ptr<Sandbox> sandbox_;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Discovery, ContainerStartedAfterTheAgentIsEnforced) {
    agent_->start();
    Container& late = sandbox_->addContainer("late");
    json started = agent_->waitForEvent([&](const json& e) {
        return e["event"]["action"] == "container-started" && e["container"]["id"] == late.id;
    });
    ASSERT_FALSE(started.is_null());
    EXPECT_EQ(started["container"]["runtime"], "docker");
    EXPECT_EQ(started["palisade"]["cgroupId"], late.cgroupId);
    EXPECT_EQ(late.connectErrno(kDenied, 443), EPERM);
    json denied = agent_->waitForEvent([&](const json& e) {
        return e["event"]["action"] == "connect" && e["container"]["id"] == late.id;
    });
    ASSERT_FALSE(denied.is_null());
    EXPECT_EQ(denied["rule"]["name"], "docker-default");
}

TEST_F(Discovery, ContainerRemovedWhileTrafficFlowsIsForgotten) {
    Container& busy = sandbox_->addContainer("busy");
    const uint64_t cgid = busy.cgroupId;
    const std::string id = busy.id;
    agent_->start();
    ASSERT_TRUE(isMapped(cgid));
    auto traffic = std::async(std::launch::async, [&busy] {
        try {
            return busy.inContainer(
                [] {
                    for (int i = 0; i < 100000; i++) {
                        if (connectErrnoHere(kDenied, 443) != EPERM) return 1;
                    }
                    return 0;
                },
                30s);
        } catch (const std::exception&) {
            return 0;  // killed by the removal, as expected
        }
    });
    std::this_thread::sleep_for(300ms);
    sandbox_->removeContainer("busy");
    EXPECT_EQ(traffic.get(), 0) << "a connect got through while the container was running";
    json stopped = agent_->waitForEvent([&](const json& e) {
        return e["event"]["action"] == "container-stopped" && e["container"]["id"] == id;
    });
    ASSERT_FALSE(stopped.is_null());
    EXPECT_TRUE(waitMapped(0));
}

// docs/reference/state-and-lifecycle.md#stop-and-restart: time from a container's cgroup appearing
// to its policy being in force. Correctness is asserted (every one arrives); the figures are
// reported.
TEST_F(Discovery, NewContainerCgroupIsInForceWithinMilliseconds) {
    agent_->start();
    const std::string slice = sandbox_->cgroups().create("system.slice");
    std::vector<double> ms;
    for (int i = 0; i < 40; i++) {
        std::string path = slice + "/docker-" + hexId(i) + ".scope";
        auto t0 = SteadyClock::now();
        ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
        const uint64_t cgid = cgroupIdOf(path);
        while (!isMapped(cgid)) {
            ASSERT_LT(SteadyClock::now() - t0, 3s) << "container " << i << " never got its policy";
            std::this_thread::sleep_for(200us);
        }
        ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2], p90 = ms[ms.size() * 9 / 10];
    RecordProperty("median_ms", std::to_string(median));
    RecordProperty("p90_ms", std::to_string(p90));
    std::cout << "cgroup created -> policy in force: median " << median << " ms, p90 " << p90
              << " ms, max " << ms.back() << " ms (" << ms.size() << " containers)\n";
}

// 10,000 container start/stop cycles: every map entry goes with its container
// and the agent's memory stays flat.
TEST_F(Discovery, TenThousandStartStopCyclesLeakNothing) {
    agent_->start();
    const std::string slice = sandbox_->cgroups().create("system.slice");
    constexpr int kRounds = 40, kPerRound = 250;
    long rssAfterWarmup = 0;
    for (int round = 0; round < kRounds; round++) {
        for (int i = 0; i < kPerRound; i++) {
            std::string path = slice + "/docker-" + hexId(round * kPerRound + i) + ".scope";
            ASSERT_EQ(mkdir(path.c_str(), 0755), 0) << path;
        }
        ASSERT_TRUE(waitMapped(kPerRound)) << "round " << round << ": " << mapped() << " mapped";
        for (int i = 0; i < kPerRound; i++) {
            std::string path = slice + "/docker-" + hexId(round * kPerRound + i) + ".scope";
            ASSERT_EQ(rmdir(path.c_str()), 0) << path;
        }
        ASSERT_TRUE(waitMapped(0)) << "round " << round << ": " << mapped() << " left behind";
        if (round == 1) rssAfterWarmup = rssKb(agent_->pid());
    }
    const long rss = rssKb(agent_->pid());
    std::cout << "agent RSS after warm-up " << rssAfterWarmup << " kB, after "
              << kRounds * kPerRound << " cycles " << rss << " kB\n";
    EXPECT_LT(rss - rssAfterWarmup, 4096) << "agent memory grew with container churn";
    RunResult status =
        run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
    ASSERT_TRUE(status.ok()) << status.output;
    EXPECT_EQ(json::parse(status.output).size(), 0u);
}

}  // namespace
}  // namespace palisade::test
