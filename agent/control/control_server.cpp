#include "control/control_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "control/control_request.h"
#include "util/errno_text.h"

namespace palisade {

struct ControlServer::Client {
    Fd fd;
    std::string in;
    std::string out;  // bytes not yet written
    bool subscribed = false;
    bool closeWhenFlushed = false;
    bool dead = false;
    std::optional<EventFilter> filter;
};

namespace {

[[noreturn]] void fail(const std::string& what) {
    const int err = errno;
    throw std::runtime_error(what + ": " + errnoText(err));
}

// The longest request we read: a command and a filter.
constexpr size_t kMaxRequestBytes = 4096;

}  // namespace

ControlServer::ControlServer(std::string path, Handlers handlers)
    : path_(std::move(path)), handlers_(std::move(handlers)) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) {
        throw std::runtime_error("controlSocket path too long: " + path_);
    }
    std::strcpy(addr.sun_path, path_.c_str());
    listen_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_) fail("control socket");
    unlink(path_.c_str());  // a stale socket of an earlier agent
    // Root only (docs/reference/configuration.md): the mode is set before anyone can connect.
    mode_t old = umask(0177);
    int rc = bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    umask(old);
    if (rc != 0) fail("bind control socket " + path_);
    if (listen(listen_.get(), 16) != 0) fail("listen on control socket " + path_);
}

ControlServer::~ControlServer() {
    clients_.clear();
    listen_.reset();
    unlink(path_.c_str());
}

size_t ControlServer::subscribers() const {
    size_t n = 0;
    for (const auto& c : clients_) n += c->subscribed;
    return n;
}

void ControlServer::fillPollFds(std::vector<pollfd>& fds) const {
    fds.push_back({listen_.get(), POLLIN, 0});
    for (const auto& c : clients_) {
        short events = POLLIN;
        if (!c->out.empty()) events |= POLLOUT;
        fds.push_back({c->fd.get(), events, 0});
    }
}

void ControlServer::handle(const std::vector<pollfd>& fds) {
    for (const auto& p : fds) {
        if (p.fd == listen_.get() && (p.revents & POLLIN)) {
            accept();
            continue;
        }
        for (auto& c : clients_) {
            if (c->fd.get() != p.fd || !p.revents) continue;
            if (p.revents & (POLLERR | POLLHUP)) c->dead = true;
            if (!c->dead && (p.revents & POLLIN)) readRequest(*c);
            if (!c->dead && (p.revents & POLLOUT)) flush(*c);
        }
    }
    std::erase_if(clients_, [](const auto& c) { return c->dead; });
}

void ControlServer::accept() {
    for (int i = 0; i < 16; i++) {
        Fd fd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) return;
        auto c = std::make_unique<Client>();
        c->fd = std::move(fd);
        clients_.push_back(std::move(c));
    }
}

void ControlServer::readRequest(Client& c) {
    char buf[1024];
    ssize_t n = read(c.fd.get(), buf, sizeof(buf));
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) c.dead = true;
        return;
    }
    if (c.subscribed || c.closeWhenFlushed) return;  // one request per connection
    c.in.append(buf, static_cast<size_t>(n));
    auto nl = c.in.find('\n');
    if (nl == std::string::npos) {
        if (c.in.size() > kMaxRequestBytes) c.dead = true;
        return;
    }
    answer(c, c.in.substr(0, nl));
}

// Whatever the request, the client gets a reply and the agent goes on: bad
// input is an error reply, a handler that throws is one too, and strings that
// are not UTF-8 (a cgroup named with arbitrary bytes) are replaced in the reply.
void ControlServer::answer(Client& c, const std::string& line) {
    nlohmann::json reply;
    auto parsed = parseControlRequest(line);
    try {
        if (auto* error = std::get_if<std::string>(&parsed)) {
            reply = {{"error", *error}};
        } else {
            const auto& req = std::get<ControlRequest>(parsed);
            switch (req.cmd) {
                case ControlRequest::Command::Status:
                    reply = handlers_.status();
                    break;
                case ControlRequest::Command::Containers:
                    reply = handlers_.containers();
                    break;
                case ControlRequest::Command::Events:
                    startEvents(c, req);
                    return;
                case ControlRequest::Command::AwaitContainer:
                    reply = handlers_.awaitContainer(req);
                    break;
            }
        }
    } catch (const std::exception& e) {
        reply = {{"error", std::string("request failed: ") + e.what()}};
    }
    c.out += reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    c.closeWhenFlushed = true;
    flush(c);
}

// Subscribes the client, or sends it the recent events that match its filter,
// or the filter's error.
void ControlServer::startEvents(Client& c, const ControlRequest& req) {
    std::string error;
    c.filter = EventFilter::parse(req.filter, error);
    if (!c.filter) {
        c.out += nlohmann::json({{"error", error}})
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                 "\n";
        c.closeWhenFlushed = true;
        flush(c);
        return;
    }
    if (req.follow) {
        c.subscribed = true;
        return;
    }
    for (const auto& line : recent_) {
        if (c.filter->matches(nlohmann::json::parse(line))) c.out += line + "\n";
    }
    c.closeWhenFlushed = true;
    flush(c);
}

void ControlServer::flush(Client& c) {
    while (!c.out.empty()) {
        // A client that left before its answer (a hook past its timeout) is EPIPE, not
        // a SIGPIPE that would end the agent.
        ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) c.dead = true;
            return;
        }
        c.out.erase(0, static_cast<size_t>(n));
    }
    if (c.closeWhenFlushed) c.dead = true;
}

void ControlServer::publish(const Event& event) {
    const std::string& line = event.line();
    recent_.push_back(line);
    if (recent_.size() > kRecentEvents) recent_.pop_front();
    for (auto& c : clients_) {
        if (!c->subscribed || c->dead) continue;
        if (!c->filter->matchesAll() && !c->filter->matches(event.json())) continue;
        if (c->out.size() + line.size() + 1 > kMaxQueuedBytes) {
            dropped_++;
            continue;
        }
        c->out += line;
        c->out += '\n';
        flush(*c);
    }
}

}  // namespace palisade
