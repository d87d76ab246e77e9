// Every program of the palisade BPF object: its hook id, name, ELF section and
// the action users see. The one table behind event.action and
// palisade.mechanism in events, the status, and the metrics' labels; checked
// against the object as built in tests/unit/hooks_test.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

struct Hook {
    uint8_t id;           // enum pal_hook (events and counters carry it)
    const char* program;  // e.g. "pal_connect4"
    // The program's section, e.g. "cgroup/connect4": where libbpf attaches it,
    // and the mechanism users see (palisade.mechanism, the status and metrics).
    const char* section;
    const char* action;  // event.action: "connect", "sendmsg", "socket-create", "packet", "exec"
};

// Every program of the object, in no particular order.
std::span<const Hook> hookTable();
// The hook of a verdict's id: nullptr for PAL_HOOK_NONE and ids of no program.
const Hook* hookById(uint8_t id);
const Hook* hookByProgram(std::string_view program);

// The section of hook `id`, or "unknown".
const char* hookMechanism(uint8_t id);
// The event.action of hook `id` ("packet" for an id of no program).
const char* hookAction(uint8_t id);

// A program of the BPF object as built.
struct ObjectProgram {
    std::string name;
    std::string section;
};
// The palisade object's programs, from its skeleton opened but not loaded (no
// privilege needed). Defined in bpf_datapath.cpp, the one file that includes
// the skeleton. Throws DatapathError.
std::vector<ObjectProgram> objectPrograms();

}  // namespace palisade
