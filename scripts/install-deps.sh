#!/usr/bin/env bash
# Installs what palisade needs to build and test on Debian 12 (idempotent, quiet).
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
    libspdlog-dev libyaml-dev nlohmann-json3-dev libcli11-dev libssl-dev
    libsystemd-dev libcpp-httplib-dev libsqlite3-dev
    libgtest-dev libgmock-dev googletest
    iproute2 iptables nftables iperf3 clang-format python3
    yamllint python3-yaml systemd util-linux   # tests/deploy: lint, systemd-analyze, setpriv
    python3-matplotlib linux-perf           # bench/: the plot, profiling
    qemu-system-x86 busybox-static kmod mmdebstrap   # vmtests/: guests with BPF LSM, with systemd
    libclang-rt-dev                         # scripts/fuzz.sh: libFuzzer and the sanitizers
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
