// The event pipeline on the real kernel: the per-container rate limit of
// events.rateLimit, events-suppressed, and the metrics endpoint.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "agent_process.h"
#include "free_port.h"
#include "harness.h"

namespace palisade::test {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

constexpr const char* kDenyAllPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata:
  name: tight
spec:
  selector: {name: "*"}
  egress:
    - toCIDR: ["198.18.0.1/32"]
      ports: [{port: 443, protocol: TCP}]
)";

// `n` connected-UDP connects to a denied destination from the calling process;
// returns how many were refused with EPERM.
int deniedConnectsHere(int n) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(53);
    inet_pton(AF_INET, "198.18.1.1", &to.sin_addr);
    int refused = 0;
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) return -1;
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0 && errno == EPERM) {
            refused++;
        }
        close(fd);
    }
    return refused;
}

// socket(AF_INET, SOCK_RAW) from the calling process: 0 or errno.
int rawSocketErrnoHere() {
    const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const int err = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    return err;
}

bool isFrom(const json& e, const Container& c) {
    return e.contains("container") && e["container"].value("id", "") == c.id;
}

class Events : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        flooder_ = &sandbox_->addContainer("flooder");
        quiet_ = &sandbox_->addContainer("quiet");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*flooder_);
        agent_->describe(*quiet_);
        agent_->writePolicy("tight.yaml", kDenyAllPolicy);
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
    }

    // Connect events from `c` and the sum of its events-suppressed counts so far.
    std::pair<int, uint64_t> tally(const Container& c) const {
        int connects = 0;
        uint64_t suppressed = 0;
        for (const auto& e : agent_->events()) {
            if (!isFrom(e, c)) continue;
            const std::string action = e["event"].value("action", "");
            if (action == "connect") connects++;
            if (action == "events-suppressed") suppressed += e["palisade"]["count"].get<uint64_t>();
        }
        return {connects, suppressed};
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* flooder_ = nullptr;
    Container* quiet_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Events, FloodingContainerIsLimitedAndCannotDrownAnother) {
    constexpr int kRate = 50, kBurst = 100, kFlood = 5000;
    agent_->rateLimit() = "{perContainerPerSecond: " + std::to_string(kRate) +
                          ", burst: " + std::to_string(kBurst) + "}";
    agent_->start();

    const auto begin = steady_clock::now();
    const int refused =
        flooder_->inContainer([] { return deniedConnectsHere(kFlood); }, std::chrono::seconds(60));
    const double floodSeconds = std::chrono::duration<double>(steady_clock::now() - begin).count();
    EXPECT_EQ(refused, kFlood) << "the limiter must never change a verdict";

    // The quiet container's one denied connect is reported, flood or not.
    EXPECT_EQ(quiet_->connectErrno("198.18.1.1", 53, SOCK_DGRAM), EPERM);
    json quietEvent = agent_->waitForEvent(
        [&](const json& e) { return isFrom(e, *quiet_) && e["event"]["action"] == "connect"; });
    ASSERT_FALSE(quietEvent.is_null()) << "the quiet container's event was drowned";
    EXPECT_EQ(quietEvent["palisade"]["verdict"], "deny");

    // Every refusal is either an event or counted in events-suppressed (the
    // agent reports the counts every second).
    auto [connects, suppressed] = tally(*flooder_);
    for (auto deadline = steady_clock::now() + std::chrono::seconds(5);
         connects + suppressed < static_cast<uint64_t>(kFlood) && steady_clock::now() < deadline;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::tie(connects, suppressed) = tally(*flooder_);
    }
    EXPECT_EQ(connects + suppressed, static_cast<uint64_t>(kFlood));
    EXPECT_GT(suppressed, 0u);
    // burst + rate x time, give or take one event per CPU racing on the bucket.
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    EXPECT_GE(connects, kBurst);
    EXPECT_LE(connects, kBurst + static_cast<int>(kRate * (floodSeconds + 1.0)) + ncpu)
        << "flood took " << floodSeconds << " s";

    json report = agent_->waitForEvent([&](const json& e) {
        return isFrom(e, *flooder_) && e["event"]["action"] == "events-suppressed";
    });
    ASSERT_FALSE(report.is_null());
    EXPECT_EQ(report["container"]["name"], "flooder");
    EXPECT_GT(report["palisade"]["count"].get<uint64_t>(), 0u);
    EXPECT_EQ(tally(*quiet_).second, 0u) << "nothing of the quiet container was held back";
}

// Security events have a budget of their own: a container that spent its
// budget on denied connects still has its refused raw socket reported.
TEST_F(Events, SecurityEventsHaveABudgetOfTheirOwn) {
    agent_->rateLimit() = "{perContainerPerSecond: 1, burst: 5}";
    agent_->start();
    const int refused =
        flooder_->inContainer([] { return deniedConnectsHere(200); }, std::chrono::seconds(30));
    EXPECT_EQ(refused, 200);
    const int rawErrno = flooder_->inContainer(rawSocketErrnoHere, std::chrono::seconds(5));
    EXPECT_EQ(rawErrno, EPERM);
    json raw = agent_->waitForEvent([&](const json& e) {
        return isFrom(e, *flooder_) && e["event"]["action"] == "socket-create";
    });
    ASSERT_FALSE(raw.is_null()) << "the raw socket's event was held back by the connects' budget";
    EXPECT_EQ(raw["palisade"]["reason"], "raw-socket");
    json report = agent_->waitForEvent([&](const json& e) {
        return isFrom(e, *flooder_) && e["event"]["action"] == "events-suppressed";
    });
    ASSERT_FALSE(report.is_null());
    EXPECT_EQ(report["palisade"]["class"], "network");
}

// The last quarter of the ring buffer is kept for security events: with the
// agent stopped and the ring filled by denied connects, a refused raw socket
// is still reported once the agent drains it.
TEST_F(Events, FullRingKeepsRoomForSecurityEvents) {
    agent_->rateLimit() = "{perContainerPerSecond: 1000000000, burst: 1000000000}";
    agent_->start();
    ASSERT_EQ(kill(agent_->pid(), SIGSTOP), 0);
    // ~100-byte records: 40,000 are twice what fills 2 MiB to three quarters.
    const int refused =
        flooder_->inContainer([] { return deniedConnectsHere(40000); }, std::chrono::seconds(60));
    const int rawErrno = flooder_->inContainer(rawSocketErrnoHere, std::chrono::seconds(5));
    ASSERT_EQ(kill(agent_->pid(), SIGCONT), 0);
    EXPECT_EQ(refused, 40000);
    EXPECT_EQ(rawErrno, EPERM);
    json raw = agent_->waitForEvent(
        [&](const json& e) {
            return isFrom(e, *flooder_) && e["event"]["action"] == "socket-create";
        },
        std::chrono::seconds(20));
    ASSERT_FALSE(raw.is_null()) << "the raw socket's event found no room in the ring";
}

// The value of the sample `series` (name and labels, exactly as exported), or -1.
double sampleValue(const std::string& page, const std::string& series) {
    std::istringstream in(page);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

TEST_F(Events, MetricsEndpointServesCountersAndHealth) {
    const uint16_t port = freeLoopbackPort();
    agent_->metricsListen() = "127.0.0.1:" + std::to_string(port);
    agent_->start();
    httplib::Client http("127.0.0.1", port);
    http.set_connection_timeout(2);
    http.set_read_timeout(2);

    auto health = http.Get("/healthz");
    ASSERT_TRUE(health) << httplib::to_string(health.error());
    EXPECT_EQ(health->status, 200);

    for (int i = 0; i < 3; i++)
        EXPECT_EQ(quiet_->connectErrno("198.18.1.1", 53, SOCK_DGRAM), EPERM);
    const std::string denied =
        R"(palisade_verdicts_total{action="connect",mechanism="cgroup/connect4",verdict="deny",reason="not-allowlisted"})";
    // The page is rendered every second: wait for one that has seen the connects.
    std::string page;
    for (auto deadline = steady_clock::now() + std::chrono::seconds(5);
         steady_clock::now() < deadline;
         std::this_thread::sleep_for(std::chrono::milliseconds(200))) {
        auto res = http.Get("/metrics");
        ASSERT_TRUE(res) << httplib::to_string(res.error());
        EXPECT_EQ(res->status, 200);
        page = res->body;
        if (sampleValue(page, denied) >= 3) break;
    }
    EXPECT_EQ(sampleValue(page, denied), 3) << page;
    EXPECT_NE(page.find("# TYPE palisade_verdicts_total counter\n"), std::string::npos);
    EXPECT_EQ(sampleValue(page, "palisade_containers"), 2);
    EXPECT_EQ(sampleValue(page, "palisade_policies"), 1);
    EXPECT_EQ(sampleValue(page, "palisade_generation"), 1);
    EXPECT_GE(sampleValue(page, "palisade_events_emitted_total"), 4);  // agent-ready + 3
    EXPECT_EQ(sampleValue(page, R"(palisade_events_dropped_total{where="ringbuf"})"), 0);
    EXPECT_EQ(sampleValue(page, "palisade_events_suppressed_total"), 0);
    // Present whether or not kernel.bpf_stats_enabled lets the kernel count runs.
    EXPECT_GE(sampleValue(page, R"(palisade_bpf_prog_runs_total{program="pal_connect4",)"
                                R"(hook="cgroup/connect4"})"),
              0)
        << page;

    // A policy change: a new generation, and its reload latency observed.
    agent_->writePolicy("tight.yaml", std::string(kDenyAllPolicy) + "  mode: audit\n");
    for (auto deadline = steady_clock::now() + std::chrono::seconds(5);
         steady_clock::now() < deadline;
         std::this_thread::sleep_for(std::chrono::milliseconds(200))) {
        auto res = http.Get("/metrics");
        ASSERT_TRUE(res);
        page = res->body;
        if (sampleValue(page, "palisade_generation") == 2) break;
    }
    EXPECT_EQ(sampleValue(page, "palisade_generation"), 2) << page;
    EXPECT_EQ(sampleValue(page, "palisade_reload_duration_seconds_count"), 1) << page;
    EXPECT_EQ(sampleValue(page, R"(palisade_reload_duration_seconds_bucket{le="+Inf"})"), 1);
    EXPECT_EQ(http.Get("/healthz")->status, 200);
}

}  // namespace
}  // namespace palisade::test
