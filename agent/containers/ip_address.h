// One IPv4 or IPv6 address of a container, as the address maps key it
// (docs/reference/enforcement.md#inter-container).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace palisade {

struct IpAddress {
    uint8_t family = 4;               // 4 or 6
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, network order
    auto operator<=>(const IpAddress&) const = default;
    std::string str() const;
};

// "198.18.0.2" or "fd00::2"; std::nullopt for anything else (a prefix length included).
std::optional<IpAddress> parseIpAddress(const std::string& text);
// Those of `texts` that parseIpAddress takes, sorted, each once.
std::vector<IpAddress> parseIpAddresses(const std::vector<std::string>& texts);

}  // namespace palisade
