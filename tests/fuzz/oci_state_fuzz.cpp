// libFuzzer target: the OCI container state `palisade oci-hook` reads on stdin
// (agent/control/oci_hook.h). Whatever the bytes, a state or a reason, never an
// exception or a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "control/oci_hook.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    palisade::parseOciState(text);
    palisade::cgroupV2Path(text);
    return 0;
}
