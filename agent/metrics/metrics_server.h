// The metrics endpoint (docs/reference/configuration.md metrics.listen): GET /metrics serves the
// page the agent rendered last (Prometheus text format), GET /healthz answers 200 while the agent's
// event loop is alive and 503 once it has not gone round for a while. cpp-httplib on threads of its
// own; the agent loop only hands over a rendered page and a heartbeat, under a mutex and an atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

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
    bool healthy() const;

    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    uint16_t port_ = 0;
    SteadyClock::duration staleAfter_;
    std::atomic<SteadyClock::rep> lastAlive_;
    mutable std::mutex mutex_;
    std::string page_;  // under mutex_
};

}  // namespace palisade
