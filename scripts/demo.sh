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
# shellcheck source=scripts/as-root.sh
source "$(dirname "$(readlink -f "$0")")/as-root.sh"
as_root "network namespaces, cgroups, BPF programs" "$@"
cd "$(dirname "$(readlink -f "$0")")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
exec python3 scripts/demo.py "$@"
