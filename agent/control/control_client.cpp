#include "control/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade {
namespace {

Fd connectTo(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path too long");
    std::strcpy(addr.sun_path, path.c_str());
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        const int err = errno;
        throw std::runtime_error("cannot reach the agent at " + path + ": " + errnoText(err) +
                                 " (is `palisade run` running?)");
    }
    return fd;
}

void sendRequest(int fd, const nlohmann::json& request) {
    std::string line = request.dump() + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        const int err = errno;
        throw std::runtime_error("send to the agent: " + errnoText(err));
    }
}

}  // namespace

void controlStream(const std::string& socketPath, const nlohmann::json& request,
                   const std::function<bool(const std::string&)>& onLine) {
    const Fd fd = connectTo(socketPath);
    sendRequest(fd.get(), request);
    std::string buf;
    char chunk[65536];
    for (;;) {
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

nlohmann::json controlRequest(const std::string& socketPath, const nlohmann::json& request) {
    nlohmann::json reply;
    controlStream(socketPath, request, [&](const std::string& line) {
        reply = nlohmann::json::parse(line, nullptr, false);
        return false;
    });
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
