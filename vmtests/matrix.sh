#!/usr/bin/env bash
# The kernel matrix: every integration test that runs in a guest, on each Debian
# cloud kernel users run (bullseye 5.10, bookworm 6.1, trixie 6.12), each booted
# with BPF LSM and without (vmtests/run.sh, two boots per kernel), and the
# integration tests on this machine's own kernel (ctest -L integration).
#
#   vmtests/matrix.sh [BUILD_DIR] [--write FILE]
#
# Prints one row per kernel and boot; --write also writes them as the Markdown
# table of docs/kernels.md#matrix (between its matrix markers). Under TCG the
# whole matrix takes about 30 minutes. PALISADE_MATRIX_SUITES="bullseye trixie"
# runs fewer kernels; PALISADE_MATRIX_HOST=0 leaves out this machine's kernel.
# Exit: 0 when every row passed, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$root/build
write=
while (($#)); do
    case $1 in
        --write) write=${2:?--write needs a file}; shift 2 ;;
        *) build=$1; shift ;;
    esac
done
build=$(cd "$build" && pwd)
suites=${PALISADE_MATRIX_SUITES:-bullseye bookworm trixie}
unset PALISADE_VM_TESTS PALISADE_VM_FILTER  # every test, in both boots
log=$(mktemp /tmp/palisade-matrix.XXXXXX)
trap 'rm -f "$log"' EXIT

rows=()
failed=0
for suite in $suites; do
    echo "matrix: $suite"
    PALISADE_VM_SUITE=$suite "$here/run.sh" "$build" 2>&1 | tee "$log" || failed=1
    # vmtests: SUMMARY suite=S kernel=K boot=B result=R tests=N failed=N skipped=N seconds=N
    while read -r line; do
        declare -A f=()
        for kv in ${line#*SUMMARY }; do f[${kv%%=*}]=${kv#*=}; done
        rows+=("| ${f[kernel]} ($suite) | ${f[boot]} | ${f[result]} | ${f[tests]} | ${f[failed]} | ${f[skipped]} | ${f[seconds]} |")
        unset f
    done < <(grep -a '^vmtests: SUMMARY ' "$log")
    grep -aq '^vmtests: SUMMARY ' "$log" || rows+=("| ($suite) | - | no guest ran | 0 | - | - | - |")
done

if [[ ${PALISADE_MATRIX_HOST:-1} == 1 ]]; then
    echo "matrix: this machine's kernel ($(uname -r))"
    t0=$(date +%s)
    ctest --test-dir "$build" -L integration --output-on-failure 2>&1 | tee "$log" || failed=1
    total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$log" | tail -1)
    fails=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
    skips=$(grep -ac '\*\*\*Skipped' "$log" || true)
    result=$([[ ${fails:-1} == 0 ]] && echo passed || echo failed)
    rows+=("| $(uname -r) (host) | $(grep -q bpf /sys/kernel/security/lsm 2>/dev/null && echo lsm || echo fallback) | $result | ${total:-0} | ${fails:--} | $skips | $(($(date +%s) - t0)) |")
fi

table=$(printf '%s\n' "| kernel | boot | result | tests | failed | skipped | seconds |" \
    "|---|---|---|---|---|---|---|" "${rows[@]}")
echo "$table"
if [[ -n $write ]]; then
    stamp="Last run: $(date -u +%Y-%m-%d), $(git -C "$root" rev-parse --short HEAD), vmtests/matrix.sh."
    python3 - "$write" "$stamp" "$table" <<'EOF'
import re, sys
path, stamp, table = sys.argv[1:]
text = open(path).read()
block = "<!-- matrix:begin -->\n" + stamp + "\n\n" + table + "\n<!-- matrix:end -->"
new, n = re.subn(r"<!-- matrix:begin -->.*?<!-- matrix:end -->", lambda _: block, text, flags=re.S)
if n != 1:
    sys.exit(f"{path}: no <!-- matrix:begin --> ... <!-- matrix:end --> block")
open(path, "w").write(new)
EOF
    echo "matrix: wrote $write"
fi
exit $failed
