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
    docker.io containerd runc podman        # tests/e2e: the real runtimes (docs/runtimes/)
)
# tests/deploy/kubernetes_schema.sh: Debian's node and npm, unless a node and its npm
# are installed already (from elsewhere, such as a newer release).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # No package may start its service here (docker.io would start a dockerd that writes
    # iptables rules in the machine's own network namespace): the tests start the
    # daemons they need themselves. policy-rc.d is the Debian way to say so.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
