#include "datapath/host_netns.h"

#include <sys/socket.h>

#include "util/fd.h"

namespace palisade {

std::optional<uint64_t> hostNetnsCookie() {
    Fd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (sock.get() < 0 || getsockopt(sock.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0 ||
        len != sizeof cookie || cookie == 0) {
        return std::nullopt;
    }
    return cookie;
}

}  // namespace palisade
