#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs, builds, runs.
# Unit tests run anywhere; integration tests need root and skip without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then exec sudo -E "$0" "$@"; fi
scripts/install-deps.sh
scripts/build.sh
scripts/check-format.sh
ctest --test-dir build --output-on-failure --timeout 300 "$@"
