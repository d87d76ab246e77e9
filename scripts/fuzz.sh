#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (tests/fuzz/): control
# requests, policy files (and their compilation), the configuration, runtime
# metadata, podman's BoltDB database, the OCI hook's container state, the API server's
# lists and watch events. Builds the targets with clang, AddressSanitizer and UBSan into a
# build dir of their own, then runs each for SECONDS on its corpus
# (tests/fuzz/corpus/<target>) plus a scratch directory for what it finds.
# An input that crashes, trips a sanitizer, takes over 5 s or 2 GiB fails the
# run; the reproducer is kept under BUILD_DIR/crashes/<target>/ (rerun it with
# BUILD_DIR/tests/fuzz/fuzz_<target> FILE).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 20 s, every target
#   PALISADE_FUZZ_BUILD=DIR                    build dir (default build-fuzz)
#
# The test suite runs it bounded (ctest -L fuzz); longer runs and growing the
# corpus: docs/fuzzing.md. Needs no root.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(control_request policy config metadata boltdb oci_state kubernetes)
dir=${PALISADE_FUZZ_BUILD:-build-fuzz}

CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPALISADE_FUZZ=ON \
    -DPALISADE_TESTS=OFF -DPALISADE_BENCH=OFF -DPALISADE_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

failed=()
for t in "${targets[@]}"; do
    scratch=$(mktemp -d)
    mkdir -p "$dir/crashes/$t"
    echo "fuzz: $t for ${seconds} s"
    if ! "$dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
        -max_len=65536 -artifact_prefix="$dir/crashes/$t/" -print_final_stats=1 \
        "$scratch" "tests/fuzz/corpus/$t" >"$dir/$t.log" 2>&1; then
        failed+=("$t")
        tail -40 "$dir/$t.log"
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$dir/$t.log" | tail -1 || true
    rm -rf "$scratch"
done
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (reproducers under $dir/crashes/)"
    exit 1
fi
echo "fuzz: ${targets[*]}: no crash, leak, hang or sanitizer report in ${seconds} s each"
