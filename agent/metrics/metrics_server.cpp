#include "metrics/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "util/errno_text.h"

namespace palisade {

ListenAddress parseListenAddress(const std::string& listen, std::string& error) {
    ListenAddress out;
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        error = "expected HOST:PORT, got \"" + listen + "\"";
        return {};
    }
    out.host = listen.substr(0, colon);
    if (out.host.front() == '[') {
        if (out.host.size() < 3 || out.host.back() != ']') {
            error = "unbalanced brackets in \"" + listen + "\"";
            return {};
        }
        out.host = out.host.substr(1, out.host.size() - 2);
    }
    const std::string port = listen.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
        error = "bad port in \"" + listen + "\"";
        return {};
    }
    out.port = static_cast<uint16_t>(value);
    return out;
}

MetricsServer::MetricsServer(const std::string& listen, SteadyClock::duration staleAfter)
    : server_(std::make_unique<httplib::Server>()),
      staleAfter_(staleAfter),
      lastAlive_(SteadyClock::now().time_since_epoch().count()) {
    std::string error;
    ListenAddress addr = parseListenAddress(listen, error);
    if (addr.port == 0) throw std::runtime_error("metrics.listen: " + error);
    // Scrapes are rare and small: two threads, not one per core.
    server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
    // httplib sets SO_REUSEPORT, which would let a second agent share the port
    // silently (and answer our /healthz); SO_REUSEADDR only, so that a taken
    // port is an error and a restart is not refused over TIME_WAIT.
    server_->set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        std::lock_guard lock(mutex_);
        res.set_content(page_, "text/plain; version=0.0.4; charset=utf-8");
    });
    server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
        const bool ok = healthy();
        res.status = ok ? 200 : 503;
        res.set_content(ok ? "ok\n" : "agent event loop stalled\n", "text/plain");
    });
    if (!server_->bind_to_port(addr.host, addr.port)) {
        throw std::runtime_error("metrics.listen: cannot listen on " + listen + ": " +
                                 errnoText(errno));
    }
    port_ = addr.port;
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // httplib's stop() does nothing before the thread has entered its accept
    // loop, so a server stopped too early would never be joined: wait for it.
    for (int i = 0; i < 5000 && !server_->is_running(); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!server_->is_running()) {  // its accept loop ended at once
        thread_.join();
        throw std::runtime_error("metrics.listen: the server on " + listen + " did not start");
    }
}

MetricsServer::~MetricsServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

void MetricsServer::update(std::string page) {
    std::lock_guard lock(mutex_);
    page_ = std::move(page);
}

void MetricsServer::alive(SteadyClock::time_point now) {
    lastAlive_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

bool MetricsServer::healthy() const {
    const SteadyClock::time_point last{
        SteadyClock::duration(lastAlive_.load(std::memory_order_relaxed))};
    return SteadyClock::now() - last < staleAfter_;
}

}  // namespace palisade
