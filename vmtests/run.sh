#!/usr/bin/env bash
# The integration tests on another kernel, in QEMU guests: a Debian cloud
# kernel (bookworm's 6.1 by default), fetched with `apt-get download` and
# unpacked into vmtests/cache (never installed on this host), booted under TCG
# with an initramfs holding busybox, the agent, the integration tests and their
# libraries.
#
#   vmtests/run.sh [BUILD_DIR]     (default: build/; needs its palisade,
#                                   tests/palisade_integration_tests and
#                                   tests/palisade_exec_probe and
#                                   tests/palisade_socket_probe)
#
# Boots:
#   lsm       lsm=lockdown,capability,bpf: exec policy through BPF LSM (EPERM),
#             and the network integration tests
#   fallback  lsm=lockdown,capability: the tracepoint fallbacks for execs
#             (tp_btf/sched_process_exec) and packet sockets (tp_btf/sys_enter)
#
# Exit: 0 when every boot reported success, 1 when a test failed or a guest
# gave no result (a kernel panic also makes QEMU exit 0: only the marker the
# guest writes counts), 77 when qemu or busybox is missing (skip).
# PALISADE_VM_SUITE=bullseye|bookworm|trixie picks the Debian suite whose cloud
# kernel boots (5.10, 6.1, 6.12; vmtests/matrix.sh runs them all);
# PALISADE_VM_TESTS=quick runs a few tests of each part in each boot instead
# of all (the other kernels in the test suite); PALISADE_VM_KERNEL picks
# another kernel package; PALISADE_VM_KEEP=1 keeps the work directory
# (initramfs, console logs); PALISADE_VM_FILTER=GTEST_FILTER makes it one BPF
# LSM boot running just those tests; PALISADE_VM_BOOTS="fallback" runs one of the
# two boots. Each boot ends with a line
# `vmtests: SUMMARY suite=... kernel=... boot=... result=... tests=N failed=N
# skipped=N seconds=N`.
#
# KVM only when a probe boot shows that it runs a guest (lib.sh: a /dev/kvm can
# open and then fail at the first instruction), TCG otherwise;
# PALISADE_VM_ACCEL=kvm|tcg skips the probe. A guest that prints nothing for
# PALISADE_VM_SILENCE seconds (60) is stopped: it hangs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$(cd "${1:-$root/build}" && pwd)
cache=$here/cache
suite=${PALISADE_VM_SUITE:-bookworm}
kernel_pkg=${PALISADE_VM_KERNEL:-linux-image-cloud-amd64}
boot_timeout=${PALISADE_VM_TIMEOUT:-1200}
silence=${PALISADE_VM_SILENCE:-60}  # s without a byte from the guest: it hangs
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

# The network tests. The inter-container and exec tests run as root and with the unit's
# capabilities (Privileges/<suite>.<test>/{root,shipped}).
net_tests='Egress.*:Bind.*:Fqdn.*:Control.*:DecideProg.*:CgroupWalk.*:Privileges/InterContainer.*'
# PALISADE_VM_TESTS=quick: what differs between kernels (the program variants,
# the cgroup walk, packet sockets, host-network loopback, BPF LSM), a test each.
quick_lsm='Privileges/Exec.DenyFailsWithEpermUnderBpfLsm/*:Privileges/Exec.DenyAppliesInANestedCgroup/shipped:'\
'Egress.TableWithRealTrafficAndEvents:Egress.NestedCgroupGetsTheContainersPolicy:'\
'Egress.PacketSocketRefusedEveryWay:Egress.HostNetworkContainerHasLoopbackJudged:'\
'CgroupWalk.*:Privileges/InterContainer.ReceiverDropsFlowsNoRuleAllows/shipped:'\
'Egress.ALowMemlockLimitIsNamedWhereTheKernelChargesIt:Fqdn.AnAddressIsAllowedOnceTheContainerLookedItUp:'\
'Fqdn.OverTcpOnlyWholeMessagesWhereTheStreamPutsThemTeach'
quick_fallback='Privileges/Exec.DenyKillsBeforeTheNewImageRunsUnderTheFallback/*:'\
'Privileges/Exec.DenyAppliesInANestedCgroup/shipped:Egress.PacketSocketRefusedEveryWay'

for tool in qemu-system-x86_64 busybox; do
    if ! command -v "$tool" >/dev/null; then
        echo "vmtests: SKIP: $tool is missing (scripts/install-deps.sh installs it)"
        exit 77
    fi
done
probes=("$build/tests/palisade_exec_probe" "$build/tests/palisade_socket_probe")
for f in "$build/palisade" "$build/tests/palisade_integration_tests" "${probes[@]}"; do
    [[ -x $f ]] || { echo "vmtests: $f is missing: build first (scripts/build.sh)"; exit 1; }
done

vm_work_dir palisade-vm

# --- the kernel and the accelerator -----------------------------------------
vm_fetch_kernel "$cache" "$suite" "$kernel_pkg" "$work/download.log"
kdir=$vm_kdir kver=$vm_kver vmlinuz=$vm_vmlinuz
vm_pick_accel "$vmlinuz" "$cache" "$work"

# --- the initramfs -----------------------------------------------------------
start=$(date +%s)
rootfs=$work/root
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,tmp,run,modules,vmtests}
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for applet in $(busybox --list); do
    [[ $applet == ip || $applet == busybox ]] && continue  # iproute2's ip, see below
    ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
: >"$rootfs/etc/resolv.conf"  # the toFQDNs tests mount their own over it
install -m 0755 "$here/init.sh" "$rootfs/init"

# Binaries with their shared libraries, at the paths they have here: the tests
# run the agent by the absolute path they were built with.
binaries=("$build/palisade" "$build/tests/palisade_integration_tests" "$(command -v ip)")
mkdir -p "$rootfs$build/tests"
strip -o "$rootfs$build/palisade" "$build/palisade"
for probe in "${probes[@]}"; do cp "$probe" "$rootfs$probe"; done  # static
strip -o "$rootfs/vmtests/palisade_integration_tests" "$build/tests/palisade_integration_tests"
cp "$(command -v ip)" "$rootfs/sbin/ip"
for lib in $(ldd "${binaries[@]}" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u); do
    install -D -m 0755 "$lib" "$rootfs$lib"
done

# Modules for the sandbox (veth, bridge) and for the bind tests' SCTP sockets, in
# dependency order.
: >"$work/modules"
for module in veth bridge sctp; do
    modprobe -d "$kdir" -S "$kver" --show-depends "$module" >>"$work/modules"
done
awk '$1 == "insmod" {print $2}' "$work/modules" | while read -r ko; do
    cp "$ko" "$rootfs/modules/"
    basename "$ko" >>"$rootfs/modules/load"
done

(cd "$rootfs" && find . | busybox cpio -o -H newc 2>/dev/null) >"$work/initramfs.cpio"
echo "vmtests: kernel $kver, initramfs $(du -h "$work/initramfs.cpio" | cut -f1)" \
    "built in $(($(date +%s) - start)) s"

# --- the boots ---------------------------------------------------------------
# boot NAME LSM_LIST EXPECT_BPF_LSM GTEST_FILTER
failed=0
boot() {
    local name=$1 lsm=$2 expect=$3 filter=$4 t0 rc result tests fails skips
    # A soft lockup panics the guest (QEMU exits at once, panic=-1) with the traces of
    # every CPU on the console (loglevel 5 shows warnings, which `quiet` hid) instead of
    # repeating until the boot timeout.
    local args="PALISADE_EXPECT_BPF_LSM=$expect PALISADE_FILTER=$filter"
    local console=$work/$name.console results=$work/$name.results
    t0=$(date +%s)
    vm_boot "$boot_timeout" "$silence" "$console" "$results" -- \
        -M pc "${vm_accel_args[@]}" -m 1024 -smp 2 -display none -monitor none -no-reboot \
        -kernel "$vmlinuz" -initrd "$work/initramfs.cpio" \
        -append "console=ttyS0 panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 loglevel=5 lsm=$lsm $args" \
        -serial "file:$console" -serial "file:$results"
    tr -d '\r' <"$results" >"$results.txt" 2>/dev/null || true
    rc=$(sed -n 's/.*PALISADE-VM-RESULT exit=\([0-9]*\).*/\1/p' "$results.txt" | tail -1)
    grep -aE '^vmtests:|^\[ *(OK|FAILED|SKIPPED|PASSED) *\]|^\[==========\]' "$results.txt" |
        sed "s/^/[$name] /" || true
    if [[ $rc != 0 ]]; then
        failed=1
        echo "[$name] FAILED (${rc:-no result}, guest $vm_ended) after $(($(date +%s) - t0)) s; test output:"
        cat "$results.txt" 2>/dev/null || true
        # The guest kernel's first complaint (a lockup, an oops) with its trace: the
        # messages that follow repeat it without the stack.
        echo "[$name] console, the first kernel report:"
        tr -d '\r' <"$console" | grep -a -m1 -A40 -E 'BUG:|WARNING:|Oops|Call Trace' || true
        echo "[$name] console, the end:"
        tr -d '\r' <"$console" | tail -40
    else
        echo "[$name] passed in $(($(date +%s) - t0)) s"
    fi
    result=$([[ $rc == 0 ]] && echo passed || echo "failed(${rc:-no result, guest $vm_ended})")
    tests=$(sed -n 's/^\[==========\] \([0-9]*\) tests\? from .* ran\..*/\1/p' "$results.txt" | tail -1)
    fails=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\?, listed below:/\1/p' "$results.txt" | tail -1)
    skips=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\?, listed below:/\1/p' "$results.txt" | tail -1)
    echo "vmtests: SUMMARY suite=$suite kernel=$kver boot=$name result=${result// /_}" \
        "tests=${tests:-0} failed=${fails:-0} skipped=${skips:-0} seconds=$(($(date +%s) - t0))"
}

boots=${PALISADE_VM_BOOTS:-lsm fallback}
lsm_tests="Privileges/Exec.*:$net_tests" fallback_tests='Privileges/Exec.*:Egress.PacketSocket*'
if [[ ${PALISADE_VM_TESTS:-full} == quick ]]; then
    lsm_tests=$quick_lsm fallback_tests=$quick_fallback
fi
if [[ -n ${PALISADE_VM_FILTER:-} ]]; then  # one boot, for working on a test
    boot lsm lockdown,capability,bpf 1 "$PALISADE_VM_FILTER"
else
    [[ " $boots " != *" lsm "* ]] || boot lsm lockdown,capability,bpf 1 "$lsm_tests"
    [[ " $boots " != *" fallback "* ]] || boot fallback lockdown,capability 0 "$fallback_tests"
fi
exit $failed
