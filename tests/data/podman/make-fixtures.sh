#!/usr/bin/env bash
# Makes the podman database fixtures with the real podman (Debian 12's 4.3.1, whose only
# backend is BoltDB), in a scratch root that it removes again, with its containers' locks
# in podman's shared memory segment. What podman makes for itself on its first use on a
# host stays, as it would for any podman command: that segment (/dev/shm/libpod_lock),
# /var/lib/containers/cache and /etc/cni/net.d/cni.lock.
#
#   tests/data/podman/bolt_state.db.gz            48 containers: the "ctr" bucket and the
#                                                 root are branch pages, each config
#                                                 spans overflow pages (unit tests)
#   tests/data/podman/containers.txt              "<id> <name>" of each of them
#   tests/fuzz/corpus/boltdb/podman-bolt_state.db one container, under libFuzzer's 64 KiB
#
# The containers, made with `podman create` (never started, so no cgroup is made):
#   web   --label app=shop --label tier=front
#   fake  --label io.kubernetes.pod.namespace=kube-system --annotation
#         io.kubernetes.pod.namespace=kube-system (a user's, not a pod)
#   db    no label
#   c01 … c45
# of an image imported from a tarball of Debian's busybox-static, without a network.
#
#   sudo tests/data/podman/make-fixtures.sh      (root, podman, runc, busybox-static)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
[[ $EUID -eq 0 ]] || { echo "make-fixtures.sh: needs root (podman's rootful storage)" >&2; exit 1; }
for tool in podman runc gzip; do
    command -v "$tool" >/dev/null || { echo "make-fixtures.sh: $tool is missing" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "make-fixtures.sh: /bin/busybox (busybox-static) is missing" >&2; exit 1; }

work=$(mktemp -d /tmp/palisade-podman-XXXXXX)
roots=()
pod() {  # pod ROOT ARGS...: podman on a store of its own, nothing under /var or /run
    local r=$1
    shift
    podman --root "$r/root" --runroot "$r/run" --tmpdir "$r/tmp" --cgroup-manager cgroupfs \
        --runtime runc "$@"
}
cleanup() {
    # Removing the containers frees their locks in podman's shared memory segment.
    for r in "${roots[@]}"; do
        pod "$r" rm --all --force >/dev/null 2>&1 || true
        pod "$r" rmi --all --force >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
image=localhost/palisade-busybox-static

store() {  # store NAME: a new store with the image in it
    local r=$work/$1
    mkdir -p "$r"
    roots+=("$r")
    pod "$r" import --quiet "$work/busybox.tar" "$image" >/dev/null
    echo "$r"
}

small=$(store small)
pod "$small" create --network none --name web --label app=shop --label tier=front "$image" true \
    >/dev/null

big=$(store big)
pod "$big" create --network none --name web --label app=shop --label tier=front "$image" true \
    >/dev/null
pod "$big" create --network none --name fake --label io.kubernetes.pod.namespace=kube-system \
    --annotation io.kubernetes.pod.namespace=kube-system "$image" true >/dev/null
pod "$big" create --network none --name db "$image" true >/dev/null
for i in $(seq -w 1 45); do
    pod "$big" create --network none --name "c$i" "$image" true >/dev/null
done

mkdir -p "$root/tests/fuzz/corpus/boltdb"
cp "$small/root/libpod/bolt_state.db" "$root/tests/fuzz/corpus/boltdb/podman-bolt_state.db"
gzip -9 -n -c "$big/root/libpod/bolt_state.db" >"$here/bolt_state.db.gz"
pod "$big" ps --all --no-trunc --format '{{.ID}} {{.Names}}' | sort -k2 >"$here/containers.txt"
echo "make-fixtures.sh: $(podman --version), $(wc -l <"$here/containers.txt") containers"
ls -l "$root/tests/fuzz/corpus/boltdb/podman-bolt_state.db" "$here/bolt_state.db.gz"
