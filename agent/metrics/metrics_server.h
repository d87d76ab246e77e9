// The metrics endpoint (docs/reference/configuration.md metrics.listen): GET /metrics serves the
// page the agent rendered last (Prometheus text format), GET /healthz answers 200 while the agent's
// event loop is alive and 503 once it has not gone round for a while. cpp-httplib on threads of its
// own; the agent loop only hands over a rendered page and a heartbeat, under a mutex and an atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace palisade {

struct ListenAddress {
    std::string host;  // without brackets
    uint16_t port = 0;
};
// "127.0.0.1:9464", "[::1]:9464", "localhost:9464"; port 0 and `error` set
// when malformed.
ListenAddress parseListenAddress(const std::string& listen, std::string& error);

class MetricsServer {
  public:
    using SteadyClock = std::chrono::steady_clock;

    // Anyone who can reach the port can open connections to it, so each one
    // is bounded. A connection has kConnectionDeadline from its accept to send
    // its request and take the answer: a request then waits at most that long
    // for the ones accepted before it, well inside the 2 s timeout of the
    // DaemonSet's probes, while a real client (a scraper or the kubelet) sends
    // at once and is answered in milliseconds. One request per connection.
    static constexpr auto kConnectionDeadline = std::chrono::seconds(1);
    // Connections open at once, queued or served; more are closed on accept.
    // Far above the few clients a node has (scrapers, the kubelet), so that a
    // burst of a couple of hundred leaves room for them; each costs a file
    // descriptor (the unit allows 65,536, which the agent's own work needs)
    // and a queue entry, not a thread.
    static constexpr size_t kMaxConnections = 256;

    // Binds `listen` and serves from a thread of its own. Throws
    // std::runtime_error (with the address) when it is malformed or cannot be
    // bound. /healthz fails once alive() was not called for `staleAfter`.
    explicit MetricsServer(const std::string& listen,
                           SteadyClock::duration staleAfter = std::chrono::seconds(5));
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // The page /metrics serves from now on.
    void update(std::string page);
    // The agent loop went round at `now`.
    void alive(SteadyClock::time_point now);
    uint16_t port() const { return port_; }

  private:
    class Http;  // cpp-httplib's server, with the bounds above
    bool healthy() const;

    std::unique_ptr<Http> server_;
    std::thread thread_;
    uint16_t port_ = 0;
    SteadyClock::duration staleAfter_;
    std::atomic<SteadyClock::rep> lastAlive_;
    mutable std::mutex mutex_;
    std::string page_;  // under mutex_
};

}  // namespace palisade
