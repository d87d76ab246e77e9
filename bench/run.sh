#!/usr/bin/env bash
# The palisade benchmarks in one command (docs/reference/targets.md): installs what is missing,
# builds into build-bench/ and runs bench/run.py, which writes
# bench/results/<time>/ and (unless --quick) docs/benchmarks.md and .png.
#
#   bench/run.sh            # full run, ~8 minutes (plus the build)
#   bench/run.sh --quick    # ~1.5 minutes, indicative only
#   bench/run.sh --help     # every option of bench/run.py
#
# Needs root: as root, or as a user with sudo (it re-runs itself through sudo).
#
# Only namespaces, cgroups and pins it creates, only 198.18.0.0/15 addresses;
# everything is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
# shellcheck source=scripts/as-root.sh
source "$(dirname "$(readlink -f "$0")")/../scripts/as-root.sh"
as_root "network namespaces, cgroups, BPF programs" "$@"
cd "$(dirname "$(readlink -f "$0")")/.."
scripts/install-deps.sh
# The same build type as scripts/build.sh: what users run is what is measured. The tests'
# harness is configured because palisade-runtime-bench drives the e2e tests' runtimes;
# only the targets below are built.
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPALISADE_TESTS=ON >/dev/null
cmake --build build-bench -j"$(nproc)" --target palisade palisade-netbench palisade-decide-bench \
    palisade-hook-floor palisade-runtime-bench >/dev/null
exec /usr/bin/python3 bench/run.py --build build-bench "$@"
