#!/usr/bin/env bash
# The shipped systemd unit under a real systemd: a QEMU guest whose PID 1 is
# Debian 12's systemd, with palisade installed by `cmake --install --prefix /usr`,
# drives palisade.service with systemctl and reads the journal
# (systemd-guest/checks.sh lists the checks). Two boots of Debian 12's cloud
# kernel (6.1): with BPF LSM (lsm=lockdown,capability,bpf) and without.
#
#   vmtests/systemd.sh [BUILD_DIR]    (default: build/; needs its palisade)
#
# The root file system: `mmdebstrap --variant=minbase` of systemd, udev, kmod,
# iproute2, bpftool and the Debian packages that hold palisade's shared
# libraries, cached in vmtests/cache/systemd-root-<key>.tar (and the initramfs
# made from it, .cpio) where <key> hashes the package list and the recipe, so a
# new library or package rebuilds it. The whole tree boots as the initramfs (the
# cloud kernel has no built-in virtio_blk or ext4); a second, small archive
# appended to it carries what changes every run: the `cmake --install` tree, the
# veth module, the checks and their unit.
#
# Exit: 0 every check passed, 1 a check failed or a guest
# gave no result, 77 skipped (not root, or qemu, mmdebstrap, busybox or cc
# missing: scripts/install-deps.sh installs them). PALISADE_VM_KEEP=1 keeps the
# work directory; PALISADE_VM_DEBUG=1 traces the checks (set -x) into the
# results; PALISADE_VM_CHECKS=FILE runs another checks script (for working on
# the harness); PALISADE_VM_BOOTS="lsm" runs one boot; PALISADE_VM_MIRROR=URL
# another Debian mirror (default deb.debian.org); PALISADE_VM_ACCEL=kvm|tcg skips
# the KVM probe.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$(cd "${1:-$root/build}" && pwd)
cache=$here/cache
kernel_pkg=${PALISADE_VM_KERNEL:-linux-image-cloud-amd64}
boot_timeout=${PALISADE_VM_TIMEOUT:-480}
silence=${PALISADE_VM_SILENCE:-60}
mirror=${PALISADE_VM_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

[[ $EUID -eq 0 ]] || { echo "vmtests.systemd: SKIP: needs root (mmdebstrap, the guest's root tree)"; exit 77; }
for tool in qemu-system-x86_64 mmdebstrap busybox cc cmake; do
    if ! command -v "$tool" >/dev/null; then
        echo "vmtests.systemd: SKIP: $tool is missing (scripts/install-deps.sh installs it)"
        exit 77
    fi
done
[[ -x $build/palisade ]] || { echo "vmtests.systemd: $build/palisade is missing: build first"; exit 1; }

t_run=$SECONDS
vm_work_dir palisade-vm-systemd

# --- the kernel and the accelerator ------------------------------------------
vm_fetch_kernel "$cache" "$suite" "$kernel_pkg" "$work/download.log"
vm_pick_accel "$vm_vmlinuz" "$cache" "$work"

# --- the root file system (cached) -------------------------------------------
# The Debian packages that hold the shared libraries palisade is linked with; a
# library in none of them is copied into the guest at its path (unpackaged).
unpackaged=()
lib_packages() {
    local lib path pkg
    for lib in $(ldd "$1" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
        pkg=
        for path in "$lib" "$(readlink -f "$lib")" "/usr$lib"; do
            pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1) || true
            [[ -n $pkg ]] && break
        done
        if [[ -n $pkg ]]; then echo "$pkg"; else echo "unpackaged:$lib"; fi
    done
}
packages=(systemd systemd-sysv udev kmod iproute2 bpftool)
for p in $(lib_packages "$build/palisade"); do
    if [[ $p == unpackaged:* ]]; then unpackaged+=("${p#unpackaged:}"); else packages+=("$p"); fi
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
recipe=2  # bump when the steps below change what the tree holds
key=$(printf '%s\n' "$recipe" "$suite" "$mirror" "${packages[@]}" | sha256sum | cut -c1-16)
tarball=$cache/systemd-root-$key.tar
base_cpio=$cache/systemd-root-$key.cpio
if [[ ! -f $tarball ]]; then
    t0=$SECONDS
    echo "vmtests.systemd: building the root file system ($key): ${packages[*]}"
    mkdir -p "$cache"
    # Only Debian packages; man pages, docs and translations are left out. The
    # merged-usr hook links /bin, /lib, /sbin into /usr itself: without it the
    # usrmerge package does, and pulls in perl (50 MB more to boot from).
    hooks=()
    [[ -d /usr/share/mmdebstrap/hooks/merged-usr ]] &&
        hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
    if ! mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" "${hooks[@]}" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        "$suite" "$work/root.tar" \
        "deb $mirror $suite main" "deb $mirror $suite-updates main" \
        "deb ${mirror%/debian}/debian-security $suite-security main" \
        </dev/null >"$work/mmdebstrap.log" 2>&1; then
        tail -30 "$work/mmdebstrap.log"
        echo "vmtests.systemd: mmdebstrap failed"
        exit 1
    fi
    mv "$work/root.tar" "$tarball.part" && mv "$tarball.part" "$tarball"
    # Older trees of this cache (other keys) go: one is enough.
    find "$cache" -maxdepth 1 -name 'systemd-root-*' ! -name "systemd-root-$key.*" -delete
    echo "vmtests.systemd: root file system in $((SECONDS - t0)) s: $(du -h "$tarball" | cut -f1)"
fi
if [[ ! -f $base_cpio ]]; then
    t0=$SECONDS
    tree=$work/base
    mkdir "$tree"
    tar -C "$tree" -xf "$tarball"
    # What no check needs, so that there is less to unpack at every boot:
    # udev's hardware database, glibc's character set modules.
    rm -rf "$tree"/usr/lib/udev/hwdb.d "$tree"/usr/lib/udev/hwdb.bin "$tree"/etc/udev/hwdb.bin \
        "$tree"/usr/lib/x86_64-linux-gnu/gconv
    ln -sf /lib/systemd/systemd "$tree/init"  # the kernel starts /init of the initramfs
    echo palisade-vm >"$tree/etc/hostname"
    # Not a first boot: no systemd-firstboot prompt on the console.
    echo "$key$key" >"$tree/etc/machine-id"
    (cd "$tree" && find . | busybox cpio -o -H newc 2>/dev/null) >"$base_cpio.part"
    mv "$base_cpio.part" "$base_cpio"
    rm -rf "$tree"
    echo "vmtests.systemd: base initramfs in $((SECONDS - t0)) s: $(du -h "$base_cpio" | cut -f1)"
fi

# --- what this run adds: palisade, the veth module, the checks ----------------
t0=$SECONDS
over=$work/overlay
mkdir -p "$over"
chmod 0755 "$over"  # its "." entry sets the mode of the guest's /
DESTDIR=$over cmake --install "$build" --prefix /usr --strip >"$work/install.log"
# The installed unit must find what it names where `cmake --install` put it.
unit=$over/usr/lib/systemd/system/palisade.service
for f in "$unit" "$over/usr/sbin/palisade" "$over/etc/palisade/palisade.yaml" \
    "$over/etc/palisade/policies.d/default.yaml"; do
    [[ -f $f ]] || { cat "$work/install.log"; echo "vmtests.systemd: cmake --install put no ${f#"$over"}"; exit 1; }
done
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\) .*--config \([^ ]*\).*/\1 \2/p' "$unit")
for f in $exec_start; do
    [[ -e $over$f ]] || { echo "vmtests.systemd: the unit names $f, which is not installed"; exit 1; }
done
echo "vmtests.systemd: installed (cmake --install --prefix /usr): $(cd "$over" &&
    find usr/sbin usr/lib/systemd etc -type f | sort | tr '\n' ' ')"

for lib in "${unpackaged[@]}"; do
    echo "vmtests.systemd: $lib is in no Debian package: copied into the guest"
    install -D -m 0755 "$lib" "$over$lib"
done
install -D -m 0755 "${PALISADE_VM_CHECKS:-$here/systemd-guest/checks.sh}" \
    "$over/usr/local/libexec/palisade-vmtest"
install -D -m 0644 "$here/systemd-guest/palisade-vmtest.service" \
    "$over/etc/systemd/system/palisade-vmtest.service"
mkdir -p "$over/etc/systemd/system/multi-user.target.wants"
ln -s ../palisade-vmtest.service "$over/etc/systemd/system/multi-user.target.wants/"
# Units that only cost boot time here (TCG): logins, apt and fs maintenance.
for u in getty.target apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
    ln -s /dev/null "$over/etc/systemd/system/$u"
done
mkdir -p "$over/usr/local/bin"
cc -O2 -Wall -Wextra -Werror -static -o "$over/usr/local/bin/pvm-connect" \
    "$here/systemd-guest/connect.c"

# veth and what it needs, with a modules.dep for the guest's modprobe.
mods=$work/modules
modprobe -d "$vm_kdir" -S "$vm_kver" --show-depends veth | awk '$1 == "insmod" {print $2}' |
    while read -r ko; do
        install -D -m 0644 "$ko" "$mods/lib/modules/$vm_kver/${ko#"$vm_kdir"/lib/modules/"$vm_kver"/}"
    done
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [[ -f $vm_kdir/lib/modules/$vm_kver/$f ]] && cp "$vm_kdir/lib/modules/$vm_kver/$f" "$mods/lib/modules/$vm_kver/"
done
depmod -b "$mods" "$vm_kver"
mkdir -p "$over/usr/lib"
mv "$mods/lib/modules" "$over/usr/lib/modules"  # /lib is a link to usr/lib in the guest

(cd "$over" && find . | busybox cpio -o -H newc 2>/dev/null) >"$work/overlay.cpio"
# Two archives one after the other: the kernel unpacks both, the second over the first.
cat "$base_cpio" "$work/overlay.cpio" >"$work/initramfs.cpio"
echo "vmtests.systemd: kernel $vm_kver, initramfs $(du -h "$work/initramfs.cpio" | cut -f1)" \
    "(run's part built in $((SECONDS - t0)) s)"

# --- the boots ----------------------------------------------------------------
failed=0
summary=()
debug=
[[ ${PALISADE_VM_DEBUG:-0} == 1 ]] && debug=" palisade.vmdebug=1"
boot() {  # boot NAME LSM_LIST
    local name=$1 lsm=$2 t0=$SECONDS rc up
    local console=$work/$name.console results=$work/$name.results
    vm_boot "$boot_timeout" "$silence" "$console" "$results" -- \
        -M pc "${vm_accel_args[@]}" -m 2048 -smp 2 -display none -monitor none -no-reboot \
        -kernel "$vm_vmlinuz" -initrd "$work/initramfs.cpio" \
        -append "console=ttyS0 panic=-1 loglevel=4 lsm=$lsm systemd.mask=serial-getty@ttyS0.service systemd.firstboot=off$debug" \
        -serial "file:$console" -serial "file:$results"
    tr -d '\r' <"$results" >"$results.txt"
    rc=$(sed -n 's/.*PALISADE-VM-RESULT exit=\([0-9]*\).*/\1/p' "$results.txt" | tail -1)
    grep -aE '^(vmtests:|CHECK )' "$results.txt" | sed "s/^/[$name] /" || true
    up=$(sed -n 's/.*, up \([0-9.]*\) s,.*/\1/p' "$results.txt" | head -1)
    if [[ $rc != 0 ]]; then
        failed=1
        echo "[$name] FAILED (${rc:-no result}, guest $vm_ended) after $((SECONDS - t0)) s"
        grep -a '^  ' "$results.txt" | sed "s/^/[$name] /" || true
        echo "[$name] console (last 40 lines):"
        tr -d '\r' <"$console" | tail -40
    else
        echo "[$name] passed in $((SECONDS - t0)) s (systemd reached its targets at ${up:-?} s)"
    fi
    # grep -c exits 1 when it counts 0: under set -e that would end the script.
    summary+=("$name: $(grep -c '^CHECK .* PASS:' "$results.txt" || true) passed, $(grep -c '^CHECK .* FAIL:' "$results.txt" || true) failed, $((SECONDS - t0)) s")
}

for b in ${PALISADE_VM_BOOTS:-lsm fallback}; do
    case $b in
        lsm) boot lsm lockdown,capability,bpf ;;
        fallback) boot fallback lockdown,capability ;;
        *) echo "vmtests.systemd: unknown boot $b (lsm, fallback)"; exit 1 ;;
    esac
done
printf 'vmtests.systemd: %s\n' "${summary[@]}"
echo "vmtests.systemd: whole run $((SECONDS - t_run)) s, accelerator $vm_accel"
exit $failed
