# shellcheck shell=bash
# shellcheck disable=SC2034  # vm_* variables are for the caller
# Shared by vmtests/run.sh and vmtests/systemd.sh (sourced, not run): the guest
# kernel, the choice between KVM and TCG, and booting a guest with a watch on
# its output.
#
#   vm_fetch_kernel CACHE SUITE PACKAGE LOG
#                                       sets vm_kdir, vm_kver, vm_vmlinuz
#   vm_pick_accel VMLINUZ CACHE WORK    sets vm_accel (kvm or tcg) and vm_accel_args
#   vm_boot TIMEOUT SILENCE WATCHED... -- QEMU_ARGS...
#                                       runs qemu-system-x86_64; sets vm_ended
#                                       ("exited", "silent" or "timeout")
#   vm_kill_qemu                        for the caller's EXIT trap

vm_qemu_pid=

# --- the kernel package ------------------------------------------------------
# Fetched with `apt-get download` and unpacked with `dpkg-deb -x` into CACHE:
# nothing is installed on the host (no postinst, no /boot, no initramfs hooks).
# Each Debian suite has an apt tree of the harness's own under CACHE/apt/SUITE
# (sources list, package lists): the machine's sources and lists are neither
# read nor changed (apt.conf.d still applies), so a Debian 12 host fetches
# bullseye's or trixie's kernel as it fetches its own. A meta package (linux-image-cloud-amd64) names the
# versioned one it depends on. PALISADE_VM_MIRROR: another Debian mirror.
vm_apt() {  # vm_apt SUITE_DIR apt-get|apt-cache ARGS...
    local dir=$1 tool=$2
    shift 2
    "$tool" -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
        -o Dir::State::status=/dev/null -o APT::Get::List-Cleanup=0 "$@"
}

vm_apt_sources() {  # vm_apt_sources SUITE: the sources list
    local mirror=${PALISADE_VM_MIRROR:-http://deb.debian.org/debian}
    local key=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'deb [signed-by=%s] %s\n' "$key" "$mirror $1 main" \
        "$key" "${mirror%/debian}/debian-security $1-security main"
}

vm_apt_update() {  # vm_apt_update SUITE_DIR SUITE
    mkdir -p "$1/lists/partial" "$1/cache/archives/partial"
    vm_apt_sources "$2" >"$1/sources.list"
    vm_apt "$1" apt-get update -qq
}

vm_resolve_kernel() {  # vm_resolve_kernel SUITE_DIR PACKAGE
    local dep
    dep=$(vm_apt "$1" apt-cache depends "$2" 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    echo "${dep:-$2}"
}

vm_download() {  # vm_download CACHE SUITE_DIR PACKAGE: the .deb into CACHE
    (cd "$1" && vm_apt "$2" apt-get download -qq "$3")
}

# vm_fetch_kernel CACHE SUITE PACKAGE LOG: sets vm_kdir, vm_kver, vm_vmlinuz
vm_fetch_kernel() {
    local cache=$1 suite=$2 want=$3 log=$4 apt=$1/apt/$2 pkg deb
    if [[ "$(cat "$apt/sources.list" 2>/dev/null)" != "$(vm_apt_sources "$suite")" ]] ||
        ! vm_apt "$apt" apt-cache show "$want" >/dev/null 2>&1; then
        if ! vm_apt_update "$apt" "$suite" >"$log" 2>&1; then
            cat "$log"
            echo "vmtests: apt-get update of $suite failed"
            return 1
        fi
    fi
    pkg=$(vm_resolve_kernel "$apt" "$want")
    if [[ ! -f $cache/$pkg/.unpacked ]]; then
        # Stale package lists name a version the mirror has dropped: update, retry.
        if ! vm_download "$cache" "$apt" "$pkg" >"$log" 2>&1; then
            if ! { vm_apt_update "$apt" "$suite" && pkg=$(vm_resolve_kernel "$apt" "$want") &&
                vm_download "$cache" "$apt" "$pkg"; } >>"$log" 2>&1; then
                cat "$log"
                echo "vmtests: apt-get download $pkg ($suite) failed"
                return 1
            fi
        fi
        rm -rf "${cache:?}/$pkg"
        deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | head -1)
        dpkg-deb -x "$deb" "$cache/$pkg"
        rm -f "$deb"
        touch "$cache/$pkg/.unpacked"
    fi
    vm_kdir=$cache/$pkg
    # trixie ships modules in /usr/lib/modules (merged /usr); modprobe -d reads lib/.
    [[ -e $vm_kdir/lib || ! -d $vm_kdir/usr/lib/modules ]] || ln -s usr/lib "$vm_kdir/lib"
    vm_kver=$(basename "$(ls -d "$vm_kdir"/lib/modules/*)")
    vm_vmlinuz=$vm_kdir/boot/vmlinuz-$vm_kver
    [[ -f $vm_kdir/lib/modules/$vm_kver/modules.dep ]] || depmod -b "$vm_kdir" "$vm_kver"
}

# --- KVM or TCG --------------------------------------------------------------
# A writable /dev/kvm is not enough: on some machines QEMU opens it and then
# stops the guest at its first instruction ("KVM internal error. Suberror: 1
# ... emulation failure", no vmx/svm in /proc/cpuinfo), silently, until the
# boot timeout. A probe boot of the kernel alone (it panics without a root file
# system and QEMU exits) must print the kernel's banner within a few seconds.
# The answer is kept for this host boot in CACHE/accel.<boot id>, so that
# run.sh and systemd.sh probe once between them. PALISADE_VM_ACCEL=kvm|tcg
# skips the probe.
vm_pick_accel() {
    vm_pick_accel_kind "$@"
    # TCG runs the vCPUs one at a time: with a thread per vCPU (MTTCG, QEMU 7.2), a
    # guest whose kernel patches code one vCPU is running (a tracepoint's static key,
    # turned on and off as the agent attaches and detaches) sometimes locked up with
    # both vCPUs spinning at the patched instruction in syscall_trace_enter (seen on
    # 5.10 and 6.1; docs/kernels.md).
    if [[ $vm_accel == tcg ]]; then
        vm_accel_args=(-accel "tcg,thread=single")
    else
        vm_accel_args=(-accel kvm)
    fi
}

vm_pick_accel_kind() {
    local vmlinuz=$1 cache=$2 work=$3 boot_id memo pid i
    if [[ -n ${PALISADE_VM_ACCEL:-} ]]; then
        vm_accel=$PALISADE_VM_ACCEL
        echo "vmtests: accelerator $vm_accel (PALISADE_VM_ACCEL)"
        return 0
    fi
    vm_accel=tcg
    if [[ ! -w /dev/kvm ]]; then
        echo "vmtests: accelerator tcg (no writable /dev/kvm)"
        return 0
    fi
    boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
    memo=$cache/accel.$boot_id
    if [[ -f $memo ]]; then
        vm_accel=$(cat "$memo")
        echo "vmtests: accelerator $vm_accel (probed earlier in this host boot: $memo)"
        return 0
    fi
    : >"$work/kvm-probe.console"
    qemu-system-x86_64 -M pc,accel=kvm -m 256 -display none -monitor none -no-reboot \
        -kernel "$vmlinuz" -append "console=ttyS0 panic=-1" \
        -serial "file:$work/kvm-probe.console" >"$work/kvm-probe.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 30; i++)); do  # 6 s at most; a working KVM needs well under 1 s
        if grep -aq 'Linux version' "$work/kvm-probe.console"; then
            vm_accel=kvm
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [[ $vm_accel == kvm ]]; then
        echo "vmtests: accelerator kvm (probe boot printed the kernel banner)"
    else
        echo "vmtests: accelerator tcg: /dev/kvm is there but a probe boot under KVM" \
            "printed nothing in $((i / 5)) s ($(grep -am1 -iE "error|kvm" "$work/kvm-probe.log" ||
                echo 'no error from qemu'))"
    fi
    mkdir -p "$cache"
    echo "$vm_accel" >"$memo"
}

# --- a boot ------------------------------------------------------------------
# vm_boot TIMEOUT SILENCE FILE... -- QEMU_ARGS...: runs QEMU under `timeout`
# and stops it early when none of the FILEs (its serial logs) has grown for
# SILENCE seconds: a guest that hangs says so within a minute instead of at the
# end of the boot timeout. QEMU's exit status says nothing (a panicking guest
# exits 0): the caller reads the guest's result marker.
vm_boot() {
    local timeout_s=$1 silence=$2 files=() size last=-1 quiet_since=$SECONDS f s
    shift 2
    while [[ $1 != -- ]]; do files+=("$1"); shift; done
    shift
    for f in "${files[@]}"; do : >"$f"; done
    timeout "$timeout_s" qemu-system-x86_64 "$@" &
    vm_qemu_pid=$!
    vm_ended=exited
    while kill -0 "$vm_qemu_pid" 2>/dev/null; do
        size=0
        for f in "${files[@]}"; do
            s=$(stat -c %s "$f" 2>/dev/null || echo 0)
            size=$((size + s))
        done
        if ((size != last)); then
            last=$size
            quiet_since=$SECONDS
        elif ((SECONDS - quiet_since >= silence)); then
            vm_ended=silent
            echo "vmtests: the guest printed nothing for $silence s: stopping it"
            kill "$vm_qemu_pid" 2>/dev/null || true
            break
        fi
        sleep 1
    done
    local rc=0
    wait "$vm_qemu_pid" || rc=$?
    vm_qemu_pid=
    if [[ $vm_ended == exited && $rc == 124 ]]; then
        vm_ended=timeout
        echo "vmtests: the guest did not finish within $timeout_s s"
    fi
    return 0
}

vm_kill_qemu() {
    if [[ -n $vm_qemu_pid ]]; then
        kill "$vm_qemu_pid" 2>/dev/null || true
        wait "$vm_qemu_pid" 2>/dev/null || true
    fi
}

# A work directory for this run in $work, removed at exit (kept with
# PALISADE_VM_KEEP=1), and a guest still running stopped then.
vm_work_dir() {  # vm_work_dir NAME
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    vm_work_name=$1
    trap vm_cleanup EXIT
}
# shellcheck disable=SC2317  # called by the trap
vm_cleanup() {
    vm_kill_qemu
    if [[ ${PALISADE_VM_KEEP:-0} == 1 ]]; then
        echo "$vm_work_name: kept $work"
    else
        rm -rf "$work"
    fi
}
