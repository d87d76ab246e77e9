// libFuzzer target: a control socket request line (agent/control/control_request.h).
// Whatever the bytes, a request or an error reply, never an exception or a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "control/control_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    palisade::parseControlRequest(std::string(reinterpret_cast<const char*>(data), size));
    return 0;
}
