#!/usr/bin/env bash
# The palisade demo on a fresh Debian 12 machine: installs, builds, then runs the
# agent enforcing on two sandboxed "containers" (network namespaces + docker-style
# cgroups in a cgroup subtree of their own) and prints what it decided.
#
# The demo itself is scripts/demo.py, on the bench's sandbox (bench/sandbox.py):
# only 198.18.0.0/15 and fd00::/8 addresses, only namespaces and cgroups it
# creates, all removed on exit (also on failure or Ctrl-C).
#
# Needs root: as root, or as a user with sudo (it re-runs itself through sudo).
set -euo pipefail
self=$(readlink -f "$0")
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null; then exec sudo -E "$self" "$@"; fi
    echo "demo.sh needs root (network namespaces, cgroups, BPF programs) and sudo is not" \
        "installed: run it as root, e.g. su -c $self" >&2
    exit 1
fi
cd "$(dirname "$self")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
exec python3 scripts/demo.py "$@"
