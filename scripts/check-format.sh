#!/usr/bin/env bash
# Fails when a source file differs from clang-format's output (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'agent/*.cpp' 'agent/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' 'bpf/*.c' 'bpf/*.bpf.h' 'include/*.h')
bad=0
for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=1
    fi
done
exit $bad
