#include "control/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade {
namespace {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// Milliseconds left before the deadline (at least 1 ms), or -1 without one.
int msLeft(const Deadline& deadline) {
    if (!deadline) return -1;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::clamp<int64_t>(left.count(), 1, INT32_MAX));
}

[[noreturn]] void timedOut(const std::string& path) {
    throw std::runtime_error("no answer from the agent at " + path + " in time");
}

Fd connectTo(const std::string& path, const Deadline& deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path too long");
    std::strcpy(addr.sun_path, path.c_str());
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd && deadline) {
        // connect() and write() block while an agent that is not reading has its
        // backlog or buffer full: they give up at the deadline (EAGAIN) too.
        const int ms = msLeft(deadline);
        const timeval tv{ms / 1000, (ms % 1000) * 1000};
        setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        const int err = errno;
        if (err == EAGAIN && deadline) timedOut(path);
        throw ControlUnreachable("cannot reach the agent at " + path + ": " + errnoText(err) +
                                 " (is `palisade run` running?)");
    }
    return fd;
}

void sendRequest(int fd, const nlohmann::json& request, const std::string& path,
                 const Deadline& deadline) {
    std::string line = request.dump() + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        const int err = errno;
        if (err == EAGAIN && deadline) timedOut(path);
        throw std::runtime_error("send to the agent: " + errnoText(err));
    }
}

}  // namespace

void controlStream(const std::string& socketPath, const nlohmann::json& request,
                   const std::function<bool(const std::string&)>& onLine, Deadline deadline) {
    const Fd fd = connectTo(socketPath, deadline);
    sendRequest(fd.get(), request, socketPath, deadline);
    std::string buf;
    char chunk[65536];
    for (;;) {
        if (deadline) {
            pollfd p{fd.get(), POLLIN, 0};
            const int ready = poll(&p, 1, msLeft(deadline));
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) timedOut(socketPath);
        }
        ssize_t n = read(fd.get(), chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        buf.append(chunk, static_cast<size_t>(n));
        size_t start = 0, nl;
        bool more = true;
        while (more && (nl = buf.find('\n', start)) != std::string::npos) {
            more = onLine(buf.substr(start, nl - start));
            start = nl + 1;
        }
        buf.erase(0, start);
        if (!more) break;
    }
}

nlohmann::json controlRequest(const std::string& socketPath, const nlohmann::json& request,
                              Deadline deadline) {
    nlohmann::json reply;
    controlStream(
        socketPath, request,
        [&](const std::string& line) {
            reply = nlohmann::json::parse(line, nullptr, false);
            return false;
        },
        deadline);
    if (reply.is_discarded() || reply.is_null()) {
        throw std::runtime_error("the agent at " + socketPath + " sent no valid reply");
    }
    if (reply.is_object() && reply.contains("error")) {
        throw std::runtime_error("the agent refused the request: " +
                                 reply["error"].get<std::string>());
    }
    return reply;
}

}  // namespace palisade
