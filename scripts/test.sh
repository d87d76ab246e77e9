#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs, builds, runs.
# Unit tests run anywhere; integration tests need root and skip without it.
#
#   scripts/test.sh [ctest options]     as root, or as a user with sudo
set -euo pipefail
self=$(readlink -f "$0")
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null; then exec sudo -E "$self" "$@"; fi
    echo "test.sh: not root, and sudo is not installed: the integration, deployment and VM" \
        "tests will be skipped (they need root). For the whole suite run it as root:" \
        "su -c $self" >&2
fi
cd "$(dirname "$self")/.."
if ! scripts/install-deps.sh; then
    [[ $EUID -eq 0 ]] || echo "test.sh: installing the missing packages needs root:" \
        "su -c $PWD/scripts/install-deps.sh" >&2
    exit 1
fi
scripts/build.sh
scripts/check-format.sh
ctest --test-dir build --output-on-failure --timeout 300 "$@"
