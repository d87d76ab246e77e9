#!/usr/bin/env bash
# systemd's own exposure rating of the shipped unit must stay at 2.5 or lower
# (README, "Deployment"), and the unit must pass `systemd-analyze verify` once
# installed (the paths it names exist then).
# usage: systemd_security.sh UNIT_FILE BUILD_DIR
set -euo pipefail
UNIT=$1
BUILD=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }

report=$(systemd-analyze security --offline=true "$UNIT" 2>&1)
echo "$report" | grep '✗' || true
figure=$(echo "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[[ -n $figure ]] || { echo "$report"; echo "FAIL: no exposure level in the report"; exit 1; }
echo "exposure level: $figure (limit 2.5)"
# --threshold counts tenths: a non-zero exit means above 2.5.
systemd-analyze security --offline=true --threshold=25 "$UNIT" >/dev/null 2>&1 ||
    { echo "FAIL: exposure $figure is above 2.5"; exit 1; }

prefix=$(mktemp -d /tmp/palisade-unit.XXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$BUILD" --prefix "$prefix" >/dev/null
systemd-analyze verify "$prefix/lib/systemd/system/palisade.service" ||
    { echo "FAIL: systemd-analyze verify"; exit 1; }
echo "systemd-analyze verify: clean"
echo "2 passed, 0 failed"
