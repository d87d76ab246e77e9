// libFuzzer target: the agent's configuration file (agent/config/config_loader.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    palisade::Diagnostics errors;
    palisade::parseConfigText(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml",
                              errors);
    return 0;
}
