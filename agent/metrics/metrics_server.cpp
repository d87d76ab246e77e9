#include "metrics/metrics_server.h"

#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util/errno_text.h"

namespace palisade {

namespace {

using SteadyClock = MetricsServer::SteadyClock;

// The endpoints take no body and a scraper's request is a few hundred bytes;
// more is cut off, so that within its deadline a connection cannot make the
// agent hold much (httplib limits neither header lines nor a chunked body).
constexpr size_t kMaxRequestBytes = 16 * 1024;

// cpp-httplib's own limits do not bound a connection: its read timeout is per
// read, so a client sending a byte now and then (slowloris) holds a worker for
// as long as it likes; a connection that sends nothing holds one for the
// keep-alive timeout; and ThreadPool queues every connection without limit
// behind them. So Server::process_and_close_socket, a private virtual that
// httplib::SSLServer overrides too, is overridden to serve each connection
// through a stream that ends at the connection's deadline, from a queue that
// closes what does not fit.

// httplib hands each accepted socket to its task queue as a call of
// process_and_close_socket; this one makes that call at once, on the accepting
// thread, so that the override below queues or closes the socket on accept.
class OnAcceptingThread final : public httplib::TaskQueue {
  public:
    void enqueue(std::function<void()> fn) override { fn(); }
    void shutdown() override {}
};

// A connection's socket, read and written until its deadline and no longer,
// and read for kMaxRequestBytes at most.
class DeadlineStream final : public httplib::Stream {
  public:
    DeadlineStream(socket_t sock, SteadyClock::time_point deadline)
        : sock_(sock), deadline_(deadline) {}

    bool is_readable() const override { return begin_ != end_ || wait(POLLIN); }
    bool is_writable() const override { return wait(POLLOUT); }
    ssize_t read(char* ptr, size_t size) override {
        // httplib reads a request a byte at a time: buffer, as its own stream does.
        if (begin_ == end_) {
            if (readLeft_ == 0 || !wait(POLLIN)) return -1;
            const ssize_t n =
                recv(sock_, buffer_.data(), std::min(buffer_.size(), readLeft_), MSG_DONTWAIT);
            if (n <= 0) return n;
            readLeft_ -= static_cast<size_t>(n);
            begin_ = 0;
            end_ = static_cast<size_t>(n);
        }
        const size_t n = std::min(size, end_ - begin_);
        std::memcpy(ptr, buffer_.data() + begin_, n);
        begin_ += n;
        return static_cast<ssize_t>(n);
    }
    ssize_t write(const char* ptr, size_t size) override {
        if (!wait(POLLOUT)) return -1;
        return send(sock_, ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);  // a short write is retried
    }
    // Only for Request::remote_addr and the like, which the handlers do not use.
    void get_remote_ip_and_port(std::string&, int&) const override {}
    void get_local_ip_and_port(std::string&, int&) const override {}
    socket_t socket() const override { return sock_; }

  private:
    bool wait(short events) const {
        for (;;) {
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(deadline_ - SteadyClock::now());
            if (left.count() <= 0) return false;
            pollfd p{sock_, events, 0};
            const int n = poll(&p, 1, static_cast<int>(left.count()));
            if (n >= 0 || errno != EINTR) return n == 1;
        }
    }

    socket_t sock_;
    SteadyClock::time_point deadline_;
    std::array<char, 4096> buffer_;
    size_t begin_ = 0;
    size_t end_ = 0;
    size_t readLeft_ = kMaxRequestBytes;
};

}  // namespace

class MetricsServer::Http final : public httplib::Server {
  public:
    Http() {
        new_task_queue = [] { return new OnAcceptingThread; };
        // Two workers: scrapes are rare and small. More would not shorten the
        // wait under load, which the deadline bounds.
        for (int i = 0; i < 2; i++) workers_.emplace_back([this] { work(); });
    }
    // Destroyed after the accept loop has ended. The connections still queued
    // end by their deadlines, so this waits kConnectionDeadline at most.
    ~Http() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& worker : workers_) worker.join();
    }
    Http(const Http&) = delete;
    Http& operator=(const Http&) = delete;

    bool bind(const std::string& host, uint16_t port) {
        // httplib listens with a backlog of 5: a burst of connections
        // overflows it while the accepting thread is not running, and each
        // client whose SYN is dropped tries again only after 1 s, then 3 s.
        // Listening again sets the backlog; the limit applies on accept.
        return bind_to_port(host, port) && ::listen(svr_sock_, SOMAXCONN) == 0;
    }

  private:
    struct Connection {
        socket_t sock;
        SteadyClock::time_point deadline;
    };

    bool process_and_close_socket(socket_t sock) override {
        {
            std::lock_guard lock(mutex_);
            if (open_ < kMaxConnections) {
                open_++;
                queue_.push_back({sock, SteadyClock::now() + kConnectionDeadline});
                wake_.notify_one();
                return true;
            }
        }
        close(sock);
        return false;
    }

    void work() {
        for (;;) {
            Connection conn{};
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) return;
                conn = queue_.front();
                queue_.pop_front();
            }
            // Past its deadline, a connection is closed without reading it.
            DeadlineStream stream(conn.sock, conn.deadline);
            bool closed = false;
            process_request(stream, /*close_connection=*/true, closed, nullptr);
            shutdown(conn.sock, SHUT_RDWR);
            close(conn.sock);
            std::lock_guard lock(mutex_);
            open_--;
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Connection> queue_;  // under mutex_, in accept order
    size_t open_ = 0;               // under mutex_: queued or being served
    bool stopping_ = false;         // under mutex_
    std::vector<std::thread> workers_;
};

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
    : server_(std::make_unique<Http>()),
      staleAfter_(staleAfter),
      lastAlive_(SteadyClock::now().time_since_epoch().count()) {
    std::string error;
    ListenAddress addr = parseListenAddress(listen, error);
    if (addr.port == 0) throw std::runtime_error("metrics.listen: " + error);
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
    if (!server_->bind(addr.host, addr.port)) {
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
