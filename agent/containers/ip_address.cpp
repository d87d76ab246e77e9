#include "containers/ip_address.h"

#include <arpa/inet.h>

#include <set>

namespace palisade {

std::string IpAddress::str() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text));
    return text;
}

std::optional<IpAddress> parseIpAddress(const std::string& text) {
    IpAddress a;
    if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) return a;
    a.family = 6;
    if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) return a;
    return std::nullopt;
}

std::vector<IpAddress> parseIpAddresses(const std::vector<std::string>& texts) {
    std::set<IpAddress> out;
    for (const std::string& text : texts) {
        if (auto a = parseIpAddress(text)) out.insert(*a);
    }
    return {out.begin(), out.end()};
}

}  // namespace palisade
