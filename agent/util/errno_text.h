// The agent's one errno-to-text.
#pragma once

#include <string>

namespace palisade {

// "No such file or directory" for ENOENT and for -ENOENT alike: libc reports
// errno positive, libbpf and the kernel return it negative. Thread-safe
// (unlike strerror()).
std::string errnoText(int err);

}  // namespace palisade
