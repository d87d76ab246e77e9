// `palisade oci-hook` (docs/runtimes/oci-hook.md): an OCI runtime hook for the
// createRuntime stage. The runtime runs it once the container's cgroup exists and
// before the container's own process starts, with the container's state on stdin;
// it asks the agent (await-container on the control socket) and returns only once
// the container's policy is in force, or fails the start (ociHook.onTimeout: fail)
// or lets it start with an oci-hook-timeout event (allow) when that cannot be
// confirmed within ociHook.timeout.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <variant>

#include "config/config.h"

namespace palisade {

// What the hook uses of the OCI state (runtime-spec runtime.md#state).
struct OciState {
    std::string id;
    pid_t pid = 0;
};

// The state is at most this long: runtimes send the container's annotations too,
// which are the user's, but a megabyte is far beyond any real set.
constexpr size_t kMaxOciStateBytes = 1 << 20;

// The state, or why it is not one: not JSON, not an object, "id" not a non-empty
// string, "pid" not a positive process id.
std::variant<OciState, std::string> parseOciState(const std::string& text);

// The cgroup v2 path ("/a/b", relative to the cgroup2 hierarchy's root) in the text
// of /proc/<pid>/cgroup: its "0::" line. nullopt when there is none (a process that is
// in no cgroup v2 directory palisade could enforce).
std::optional<std::string> cgroupV2Path(const std::string& procCgroupText);

// Runs the hook: reads the state from `in`, asks the agent at config.controlSocket,
// says why on `err` when it does not let the container start quietly. Returns the
// exit code: 0 the container may start, 1 the state is not valid, 2 its policy could
// not be confirmed in force and ociHook.onTimeout is fail.
int runOciHook(const Config& config, std::istream& in, std::ostream& err);

}  // namespace palisade
