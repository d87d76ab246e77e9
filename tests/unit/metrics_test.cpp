// The Prometheus text rendering, the metrics page of the agent and the
// metrics endpoint (on a loopback port).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "free_port.h"
#include "metrics/agent_metrics.h"
#include "metrics/exposition.h"
#include "metrics/metrics_server.h"

namespace palisade {
namespace {

using test::freeLoopbackPort;
using ::testing::HasSubstr;
using ::testing::Not;
using SteadyClock = MetricsServer::SteadyClock;

// A TCP connection to 127.0.0.1:port, or -1 when it is not up within 3 s
// (a SYN dropped from a full accept queue is sent again after 1 s).
int connectLoopback(uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof(error);
    if ((connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ||
         (errno == EINPROGRESS && poll(&p, 1, 3000) == 1)) &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
        return fd;
    }
    close(fd);
    return -1;
}

// Connections held open on a port: `idle` that never send, and `slow` that
// send a request one byte every 100 ms (slowloris) until destroyed.
class HeldConnections {
  public:
    HeldConnections(uint16_t port, size_t idle, size_t slow) {
        for (size_t i = 0; i < idle + slow; i++) {
            const int fd = connectLoopback(port);
            if (fd >= 0) (i < idle ? idle_ : slow_).push_back(fd);
        }
        dripper_ = std::thread([this] {
            const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
            for (size_t i = 0; i < request.size() && !stop_; i++) {
                for (int fd : slow_) send(fd, &request[i], 1, MSG_DONTWAIT | MSG_NOSIGNAL);
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        });
    }
    ~HeldConnections() {
        stop_ = true;
        dripper_.join();
        for (int fd : idle_) close(fd);
        for (int fd : slow_) close(fd);
    }
    HeldConnections(const HeldConnections&) = delete;
    HeldConnections& operator=(const HeldConnections&) = delete;

    size_t size() const { return idle_.size() + slow_.size(); }

    // How many of the idle connections the server closed by `until`.
    size_t idleClosedBy(SteadyClock::time_point until) const {
        std::vector<pollfd> fds;
        for (int fd : idle_) fds.push_back({fd, POLLIN, 0});
        size_t closed = 0;
        for (auto now = SteadyClock::now(); now < until; now = SteadyClock::now()) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
            if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) break;
            for (auto& p : fds) {
                char byte;
                if (p.revents != 0 && recv(p.fd, &byte, 1, MSG_DONTWAIT) <= 0) {
                    closed++;
                    p.fd = -1;  // poll skips it from now on
                }
            }
        }
        return closed;
    }

    const SteadyClock::time_point start = SteadyClock::now();  // before the first connect

  private:
    std::vector<int> idle_;
    std::vector<int> slow_;
    std::atomic<bool> stop_{false};
    std::thread dripper_;
};

TEST(Exposition, FamiliesSamplesAndEscaping) {
    Exposition out;
    out.family("x_total", "counter", "Help with \\ and\nnewline.");
    out.sample("x_total", {{"a", "1"}, {"b", "q\"uo\\te\nd"}}, uint64_t{18446744073709551615u});
    out.sample("x_total", {}, 0.25);
    EXPECT_EQ(out.text(),
              "# HELP x_total Help with \\\\ and\\nnewline.\n"
              "# TYPE x_total counter\n"
              "x_total{a=\"1\",b=\"q\\\"uo\\\\te\\nd\"} 18446744073709551615\n"
              "x_total 0.25\n");
}

TEST(Histogram, CumulativeBucketsSumAndCount) {
    Histogram h({0.5, 0.25, 1});                            // unsorted on purpose
    for (double v : {0.125, 0.25, 0.5, 2.0}) h.observe(v);  // a bound is in its own bucket
    Exposition out;
    h.render(out, "lat_seconds", "Latency.");
    EXPECT_EQ(out.text(),
              "# HELP lat_seconds Latency.\n"
              "# TYPE lat_seconds histogram\n"
              "lat_seconds_bucket{le=\"0.25\"} 2\n"
              "lat_seconds_bucket{le=\"0.5\"} 3\n"
              "lat_seconds_bucket{le=\"1\"} 3\n"
              "lat_seconds_bucket{le=\"+Inf\"} 4\n"
              "lat_seconds_sum 2.875\n"
              "lat_seconds_count 4\n");
    EXPECT_EQ(h.count(), 4u);
}

TEST(AgentMetrics, VerdictsByActionMechanismVerdictAndReason) {
    AgentMetrics m;
    m.counters.byReason[PAL_HOOK_CONNECT4][PAL_VERDICT_DENY][PAL_REASON_NOT_ALLOWLISTED] = 7;
    m.counters.byReason[PAL_HOOK_CONNECT4][PAL_VERDICT_ALLOW][PAL_REASON_NONE] = 9;
    m.counters.byReason[PAL_HOOK_LSM_BPRM][PAL_VERDICT_FLAG][PAL_REASON_SETUID_EXEC] = 1;
    m.counters.ringbufDrops = 2;
    m.programs = {{"pal_connect4", "cgroup/connect4", 12, 40, 2'000'000'000}};
    m.bpfStatsEnabled = false;
    m.eventsEmitted = 11;
    m.eventsSuppressed = 5;
    m.subscriberDrops = 3;
    m.containers = 4;
    m.containersMetadataUnreadable = 1;
    m.policies = 2;
    m.generation = 6;
    m.kernelFeatures = {{"bpf-lsm", false}, {"tracing-ancestor-cgroup", true}};
    Histogram reload({0.1});
    reload.observe(0.02);
    m.reloadSeconds = &reload;
    const std::string page = renderAgentMetrics(m);
    EXPECT_THAT(page, HasSubstr("palisade_verdicts_total{action=\"connect\",mechanism=\"cgroup/"
                                "connect4\",verdict=\"deny\",reason=\"not-allowlisted\"} 7\n"));
    EXPECT_THAT(page, HasSubstr("palisade_verdicts_total{action=\"connect\",mechanism=\"cgroup/"
                                "connect4\",verdict=\"allow\",reason=\"none\"} 9\n"));
    EXPECT_THAT(page,
                HasSubstr("palisade_verdicts_total{action=\"exec\",mechanism=\"lsm/"
                          "bprm_creds_from_file\",verdict=\"flag\",reason=\"setuid-exec\"} 1\n"));
    EXPECT_THAT(page, Not(HasSubstr("verdict=\"audit\"")));  // zero series are left out
    EXPECT_THAT(page, HasSubstr("palisade_events_emitted_total 11\n"));
    EXPECT_THAT(page, HasSubstr("palisade_events_suppressed_total 5\n"));
    EXPECT_THAT(page, HasSubstr("palisade_events_dropped_total{where=\"ringbuf\"} 2\n"));
    EXPECT_THAT(page, HasSubstr("palisade_events_dropped_total{where=\"subscriber\"} 3\n"));
    EXPECT_THAT(page, HasSubstr("palisade_containers 4\n"));
    EXPECT_THAT(page, HasSubstr("palisade_containers_metadata_unreadable 1\n"));
    EXPECT_THAT(page, HasSubstr("palisade_policies 2\n"));
    EXPECT_THAT(page, HasSubstr("palisade_generation 6\n"));
    EXPECT_THAT(page, HasSubstr("palisade_kernel_feature{feature=\"bpf-lsm\"} 0\n"));
    EXPECT_THAT(page,
                HasSubstr("palisade_kernel_feature{feature=\"tracing-ancestor-cgroup\"} 1\n"));
    EXPECT_THAT(page, HasSubstr("palisade_reload_duration_seconds_bucket{le=\"0.1\"} 1\n"));
    EXPECT_THAT(page, HasSubstr("palisade_bpf_stats_enabled 0\n"));
    EXPECT_THAT(page,
                HasSubstr("palisade_bpf_prog_runs_total{program=\"pal_connect4\",hook=\"cgroup/"
                          "connect4\"} 40\n"));
    EXPECT_THAT(page, HasSubstr("palisade_bpf_prog_run_seconds_total{program=\"pal_connect4\","
                                "hook=\"cgroup/connect4\"} 2\n"));
}

// docs/reference/events-and-metrics.md: DNS answers and the addresses learned from them
// (docs/reference/enforcement.md#fqdn), counted by the programs, and the selectors and
// addresses in force as of the last sweep.
TEST(AgentMetrics, DnsAnswersAndFqdnAddresses) {
    AgentMetrics m;
    m.counters.dnsAnswers = 11;
    m.counters.dnsIgnored = 3;
    m.counters.dnsLearned = 17;
    m.counters.dnsRefused = 2;
    m.counters.dnsUnnoted = 6;
    m.fqdnSelectors = 5;
    m.fqdnAddresses = 9;
    const std::string page = renderAgentMetrics(m);
    EXPECT_THAT(page, HasSubstr("# TYPE palisade_dns_answers_total counter\n"));
    EXPECT_THAT(page, HasSubstr("palisade_dns_answers_total{result=\"learned\"} 11\n"));
    EXPECT_THAT(page, HasSubstr("palisade_dns_answers_total{result=\"ignored\"} 3\n"));
    EXPECT_THAT(page, HasSubstr("# TYPE palisade_fqdn_addresses_total counter\n"));
    EXPECT_THAT(page, HasSubstr("palisade_fqdn_addresses_total{result=\"learned\"} 17\n"));
    EXPECT_THAT(page, HasSubstr("palisade_fqdn_addresses_total{result=\"refused\"} 2\n"));
    EXPECT_THAT(page, HasSubstr("palisade_dns_queries_unnoted_total 6\n"));
    EXPECT_THAT(page, HasSubstr("# TYPE palisade_fqdn_selectors gauge\n"));
    EXPECT_THAT(page, HasSubstr("palisade_fqdn_selectors 5\n"));
    EXPECT_THAT(page, HasSubstr("# TYPE palisade_fqdn_addresses gauge\n"));
    EXPECT_THAT(page, HasSubstr("palisade_fqdn_addresses 9\n"));

    // Zero is a sample too: the series exist from the start.
    const std::string idle = renderAgentMetrics(AgentMetrics{});
    EXPECT_THAT(idle, HasSubstr("palisade_dns_answers_total{result=\"learned\"} 0\n"));
    EXPECT_THAT(idle, HasSubstr("palisade_fqdn_addresses_total{result=\"refused\"} 0\n"));
    EXPECT_THAT(idle, HasSubstr("palisade_fqdn_selectors 0\n"));
    EXPECT_THAT(idle, HasSubstr("palisade_fqdn_addresses 0\n"));
}

TEST(ListenAddress, Parses) {
    std::string error;
    auto a = parseListenAddress("127.0.0.1:9464", error);
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 9464);
    a = parseListenAddress("[::1]:80", error);
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(a.port, 80);
    for (const char* bad : {"9464", ":9464", "127.0.0.1:0", "127.0.0.1:70000", "[::1:80", "h:x"}) {
        error.clear();
        EXPECT_EQ(parseListenAddress(bad, error).port, 0) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

TEST(MetricsServer, ServesThePageAndHealthUntilTheLoopStalls) {
    const uint16_t port = freeLoopbackPort();
    MetricsServer server("127.0.0.1:" + std::to_string(port), std::chrono::milliseconds(300));
    server.update("palisade_generation 3\n");
    server.alive(SteadyClock::now());
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(2);

    auto res = http.Get("/metrics");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "palisade_generation 3\n");
    EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
    EXPECT_EQ(http.Get("/healthz")->status, 200);

    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(http.Get("/healthz")->status, 503) << "the loop did not tick for 400 ms";
    server.alive(SteadyClock::now());
    EXPECT_EQ(http.Get("/healthz")->status, 200);
    EXPECT_EQ(http.Get("/nothing")->status, 404);
}

// Issue 16: seven idle connections from anyone used to keep /healthz from
// answering, and the kubelet would restart the agent.
TEST(MetricsServer, AnswersHealthWhileManyConnectionsAreHeld) {
    const uint16_t port = freeLoopbackPort();
    MetricsServer server("127.0.0.1:" + std::to_string(port));
    HeldConnections held(port, 192, 8);
    ASSERT_EQ(held.size(), 200u);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // held first, then the probe
    server.alive(SteadyClock::now());

    httplib::Client http("127.0.0.1", port);
    http.set_connection_timeout(2);
    http.set_read_timeout(2);
    const auto start = SteadyClock::now();
    auto res = http.Get("/healthz");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(2));
}

TEST(MetricsServer, ClosesConnectionsBeyondTheLimitOnAccept) {
    const uint16_t port = freeLoopbackPort();
    MetricsServer server("127.0.0.1:" + std::to_string(port));
    const size_t extra = 8;
    HeldConnections held(port, MetricsServer::kMaxConnections + extra, 0);
    ASSERT_EQ(held.size(), MetricsServer::kMaxConnections + extra);
    // The connections within the limit are closed at their deadline, not before.
    const auto beforeDeadlines =
        held.start + MetricsServer::kConnectionDeadline - std::chrono::milliseconds(100);
    EXPECT_EQ(held.idleClosedBy(beforeDeadlines), extra);
}

TEST(MetricsServer, CutsOffALargeRequest) {
    const uint16_t port = freeLoopbackPort();
    MetricsServer server("127.0.0.1:" + std::to_string(port));
    server.alive(SteadyClock::now());
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(2);
    const auto withFiller = [&](int kilobytes) {
        httplib::Headers headers;
        for (int i = 0; i < kilobytes / 4; i++) {
            headers.emplace("X-Filler-" + std::to_string(i), std::string(4000, 'a'));
        }
        return http.Get("/healthz", headers);
    };
    auto res = withFiller(12);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    // 400, or a reset: the server closes with the rest unread.
    res = withFiller(32);
    EXPECT_TRUE(!res || res->status == 400) << res->status;
}

TEST(MetricsServer, RefusesATakenPort) {
    const uint16_t port = freeLoopbackPort();
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    MetricsServer first(listen);
    EXPECT_THROW(MetricsServer second(listen), std::runtime_error);
}

}  // namespace
}  // namespace palisade
