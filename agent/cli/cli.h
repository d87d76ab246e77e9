// The `palisade` command line (docs/reference/cli.md).
#pragma once

namespace palisade {

// Parses argv and runs the subcommand. Returns the process exit code:
// 0 success, 1 invalid input, 2 runtime failure.
int runCli(int argc, char** argv);

}  // namespace palisade
