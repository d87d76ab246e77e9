// libFuzzer target: a policy file (agent/policy/policy_parser.h) and, when it
// is valid, its compilation for a container it may select.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/compiler.h"
#include "config/config.h"
#include "policy/policy_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const palisade::PolicyFile file = palisade::parsePolicyText(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    if (!file.valid()) return 0;
    palisade::Container c;
    c.id = std::string(64, 'a');
    c.runtime = "docker";
    c.name = "api-1";
    c.labels = {{"app", "api"}};
    c.cgroupId = 1;
    try {
        palisade::compile(file.policies, {c}, palisade::Config().defaults,
                          palisade::generationIdBase(1));
    } catch (const palisade::CompileError&) {
        // a set the maps cannot represent: reported, never applied
    }
    return 0;
}
