#!/usr/bin/env bash
# Configures and builds palisade and its tests into build/, warnings as errors
# (PALISADE_WERROR: this is the developers' and CI's build; packagers leave it off).
# Needs no root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -e build && ! -w build ]]; then
    echo "build.sh: build/ is not writable by $(id -un) (a build as root, e.g. through" \
        "sudo scripts/test.sh, made it): run as root, or take it back (as root):" \
        "chown -R $(id -un): $PWD/build" >&2
    exit 1
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPALISADE_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
