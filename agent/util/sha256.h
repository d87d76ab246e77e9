// SHA-256 (OpenSSL) of bytes, as the agent shows it: policy file digests, and
// the test harness's container ids.
#pragma once

#include <string>
#include <string_view>

namespace palisade {

// 64 lowercase hex digits.
std::string sha256Hex(std::string_view data);

}  // namespace palisade
