#include "policy/policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace palisade {

namespace {

// Clears every bit after the first `prefixLen`.
std::array<uint8_t, 16> masked(const std::array<uint8_t, 16>& addr, int prefixLen) {
    std::array<uint8_t, 16> out{};
    for (int byte = 0; byte < 16; ++byte) {
        int keep = std::clamp(prefixLen - byte * 8, 0, 8);
        out[byte] = static_cast<uint8_t>(addr[byte] & (0xff00 >> keep));
    }
    return out;
}

// Only digits: from_chars alone would accept "8abc" as 8.
std::optional<int> parsePrefixLen(std::string_view text) {
    auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
    if (text.empty() || text.size() > 3 || !std::ranges::all_of(text, isDigit)) return std::nullopt;
    int value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

std::string invalid(const std::string& text, const std::string& why) {
    return "invalid CIDR \"" + text + "\": " + why;
}

bool isAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Kubernetes' qualified name part and label value: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
bool isNamePart(std::string_view text) {
    return !text.empty() && text.size() <= 63 && isAlnum(text.front()) && isAlnum(text.back()) &&
           std::ranges::all_of(
               text, [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 subdomain: dot-separated labels of lowercase alphanumerics and '-'.
bool isDnsSubdomain(std::string_view text) {
    if (text.empty() || text.size() > 253) return false;
    size_t start = 0;
    while (start <= text.size()) {
        size_t dot = std::min(text.find('.', start), text.size());
        std::string_view label = text.substr(start, dot - start);
        auto lowerAlnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
        if (label.empty() || !lowerAlnum(label.front()) || !lowerAlnum(label.back()) ||
            !std::ranges::all_of(label, [&](char c) { return lowerAlnum(c) || c == '-'; })) {
            return false;
        }
        start = dot + 1;
    }
    return true;
}

constexpr const char* kNameRule =
    "at most 63 characters: alphanumerics, '-', '_' or '.', starting and ending with an "
    "alphanumeric";

}  // namespace

std::string labelKeyProblem(std::string_view key) {
    const size_t slash = key.find('/');
    std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
    if (slash != std::string_view::npos && !isDnsSubdomain(key.substr(0, slash))) {
        return "invalid label key \"" + std::string(key) +
               "\": its prefix must be a DNS subdomain (lowercase alphanumerics, '-' and '.', "
               "at most 253 characters)";
    }
    if (!isNamePart(name)) {
        return "invalid label key \"" + std::string(key) + "\": the name must be " + kNameRule;
    }
    return "";
}

std::string labelValueProblem(std::string_view value) {
    if (value.empty() || isNamePart(value)) return "";
    return "invalid label value \"" + std::string(value) + "\": it must be empty or " + kNameRule;
}

std::string Cidr::str() const {
    char buffer[INET6_ADDRSTRLEN];
    inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), buffer, sizeof buffer);
    return std::string(buffer) + "/" + std::to_string(prefixLen);
}

std::string FqdnSelector::str() const { return pattern ? "*." + name : name; }

bool Cidr::contains(const Cidr& inner) const {
    if (v6 != inner.v6 || inner.prefixLen < prefixLen) return false;
    const int whole = prefixLen / 8;
    for (int byte = 0; byte < whole; ++byte) {
        if (addr[byte] != inner.addr[byte]) return false;
    }
    const int rest = prefixLen % 8;
    const auto mask = static_cast<uint8_t>(0xff00 >> rest);
    return rest == 0 || (addr[whole] & mask) == (inner.addr[whole] & mask);
}

std::optional<Cidr> parseCidr(const std::string& text, std::string& error) {
    const size_t slash = text.find('/');
    const std::string address = text.substr(0, slash);
    Cidr cidr;
    if (inet_pton(AF_INET, address.c_str(), cidr.addr.data()) != 1) {
        if (inet_pton(AF_INET6, address.c_str(), cidr.addr.data()) != 1) {
            error = invalid(text, "\"" + address + "\" is not an IPv4 or IPv6 address");
            return std::nullopt;
        }
        cidr.v6 = true;
    }
    const int maxLen = cidr.v6 ? 128 : 32;
    int prefixLen = maxLen;
    if (slash != std::string::npos) {
        auto parsed = parsePrefixLen(std::string_view(text).substr(slash + 1));
        if (!parsed) {
            error = invalid(text, "the prefix length must be a number");
            return std::nullopt;
        }
        prefixLen = *parsed;
    }
    if (prefixLen > maxLen) {
        error =
            invalid(text, "prefix length " + std::to_string(prefixLen) + " is out of range for " +
                              (cidr.v6 ? "IPv6 (0-128)" : "IPv4 (0-32)"));
        return std::nullopt;
    }
    cidr.prefixLen = static_cast<uint8_t>(prefixLen);
    if (auto network = masked(cidr.addr, prefixLen); network != cidr.addr) {
        Cidr suggestion = cidr;
        suggestion.addr = network;
        error = "CIDR " + text + " has host bits set (did you mean " + suggestion.str() + "?)";
        return std::nullopt;
    }
    return cidr;
}

}  // namespace palisade
