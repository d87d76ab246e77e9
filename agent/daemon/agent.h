// `palisade run`: the daemon's life cycle (docs/reference/cli.md,
// docs/reference/state-and-lifecycle.md#stop-and-restart).
#pragma once

#include "config/config.h"

namespace palisade {

// Runs until SIGTERM/SIGINT. Returns the process exit code (0 clean stop,
// 2 when the kernel refuses what enforcement needs).
int runAgent(const Config& config);

}  // namespace palisade
