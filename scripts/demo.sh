#!/usr/bin/env bash
# The palisade demo on a fresh Debian 12 machine: installs, builds, then runs the
# agent enforcing on two sandboxed "containers" (network namespaces + docker-style
# cgroups in a cgroup subtree of their own) and prints what it decided.
#
# Only 198.18.0.0/15 and fd00::/8 addresses, only namespaces and cgroups this
# script creates, all removed on exit.
#
# Needs root: as root, or as a user with sudo (it re-runs itself through sudo).
set -euo pipefail
self=$(readlink -f "$0")
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null; then exec sudo -E "$self" "$@"; fi
    echo "demo.sh needs root (network namespaces, cgroups, BPF programs) and sudo is not" \
        "installed: run it as root, e.g. su -c $self" >&2
    exit 1
fi
cd "$(dirname "$self")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null

BIN=$PWD/build/palisade
# The cgroup2 mount: the filesystem type is the field after "-" (mountinfo has
# a variable number of optional fields before it).
CG2=$(awk '{for (i = 7; i < NF; i++) if ($i == "-") break} $(i + 1) == "cgroup2" {print $5; exit}' \
    /proc/self/mountinfo)
[[ -n $CG2 ]] || {
    echo "demo.sh: no cgroup2 mount: mkdir -p /sys/fs/cgroup/unified &&" \
        "mount -t cgroup2 none /sys/fs/cgroup/unified" >&2
    exit 1
}
TAG=palisade-demo-$$
ROOT=$CG2/$TAG
WORK=$(mktemp -d /tmp/$TAG.XXXX)
OUT=br-$$
AGENT_PID=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
    set +e
    [[ -n $AGENT_PID ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    "$BIN" cleanup --config "$WORK/palisade.yaml" >/dev/null 2>&1
    for ns in $OUT api-$$ db-$$; do ip netns del "$ns" 2>/dev/null; done
    for p in $(cat "$ROOT"/system.slice/*/cgroup.procs 2>/dev/null); do kill -9 "$p"; done
    find "$ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# The "outside world": a namespace with a bridge, an external API at
# 198.19.0.10 / fd00:19::10 and some other host at 198.19.0.66 / fd00:19::66.
ip netns add $OUT
ip -n $OUT link set lo up
ip -n $OUT link add br0 type bridge
ip -n $OUT link set br0 up
ip -n $OUT addr add 198.18.0.1/24 dev br0
ip -n $OUT addr add fd00:18::1/64 dev br0 nodad
for a in 198.19.0.10/32 198.19.0.66/32; do ip -n $OUT addr add $a dev lo; done
for a in fd00:19::10/128 fd00:19::66/128; do ip -n $OUT addr add $a dev lo; done

# container NAME INDEX: netns + veth on the bridge + docker-style cgroup + metadata.
container() {
    local name=$1 i=$2 ns=$1-$$
    local id
    id=$(printf '%s-%s' "$name" "$$" | sha256sum | cut -c1-64)
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "v$i-$$" netns "$ns" type veth peer name "p$i-$$" netns $OUT
    ip -n "$ns" link set "v$i-$$" name eth0
    ip -n "$ns" link set eth0 up
    ip -n $OUT link set "p$i-$$" master br0 up
    ip -n "$ns" addr add "198.18.0.$((10 + i))/24" dev eth0
    ip -n "$ns" addr add "fd00:18::$((10 + i))/64" dev eth0 nodad
    ip -n "$ns" route add default via 198.18.0.1
    ip -n "$ns" -6 route add default via fd00:18::1
    mkdir -p "$ROOT/system.slice/docker-$id.scope" "$WORK/docker/containers/$id"
    printf '{"Name": "/%s", "Config": {"Labels": {"tier": "%s"}}}' "$name" "$name" \
        >"$WORK/docker/containers/$id/config.v2.json"
    echo "$id"
}
API_ID=$(container api 1)
DB_ID=$(container db 2)

# A server in the outside world that accepts TCP on 443 (IPv4 and IPv6).
ip netns exec $OUT python3 -c '
import socket, threading
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", 443)); s.listen(64)
s.settimeout(60)
try:
    while True: s.accept()[0].close()
except Exception: pass' &

# inside CONTAINER COMMAND...: runs a command in a container (cgroup, then netns).
inside() {
    local name=$1 id
    shift
    id=$([[ $name == api ]] && echo "$API_ID" || echo "$DB_ID")
    sh -c "echo \$\$ > '$ROOT/system.slice/docker-$id.scope/cgroup.procs' &&
           exec ip netns exec $name-$$ \"\$@\"" sh "$@"
}

# The database listens on 5432 inside its container.
inside db python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5432)); s.listen(64); s.settimeout(60)
try:
    while True: s.accept()[0].close()
except Exception: pass' 2>/dev/null &  # killed with the container's cgroup at the end

# in_container CONTAINER ADDRESS PORT: connect from inside a container.
in_container() {
    inside "$1" python3 -c '
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam); s.settimeout(3)
try:
    s.connect((addr, port)); print("connected")
except OSError as e:
    print(e.strerror)
' "$2" "$3"
}

mkdir -p "$WORK/policies.d"
cat >"$WORK/policies.d/demo.yaml" <<'POLICY'
# api may reach its external API over HTTPS and the database on 5432, nothing
# else; db has no egress (so it cannot open a connection to api either).
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: "api"}
  egress:
    - toCIDR: ["198.19.0.10/32"]
      ports: [{port: 443, protocol: TCP}]
    - toContainers: {name: "db"}
      ports: [{port: 5432, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db}
spec:
  selector: {name: "db"}
  egress: []
POLICY
cat >"$WORK/palisade.yaml" <<CONFIG
cgroupRoot: $ROOT
policyDir: $WORK/policies.d
stateDir: /sys/fs/bpf/$TAG
controlSocket: $WORK/palisade.sock
runtimes: {dockerRoot: $WORK/docker}
events:
  sinks: [{type: file, path: $WORK/events.jsonl}]
CONFIG

say "policy (palisade policy check)"
cat "$WORK/policies.d/demo.yaml"
"$BIN" policy check "$WORK/policies.d"

say "starting: palisade run --config $WORK/palisade.yaml"
"$BIN" run --config "$WORK/palisade.yaml" 2>"$WORK/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do grep -q agent-ready "$WORK/events.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q agent-ready "$WORK/events.jsonl" || { cat "$WORK/agent.log"; exit 2; }
cat "$WORK/agent.log"

say "what the containers try"
try() { printf '  %-4s -> %-22s %-5s : %s\n' "$1" "$2" "$3" "$(in_container "$1" "$2" "$3")"; }
try api 198.19.0.10 443           # the allowed external API
try api 198.19.0.66 443           # any other host
try api ::ffff:198.19.0.66 443    # the same host through an IPv4-mapped IPv6 address
try api ::ffff:198.19.0.10 443    # ... judged as the IPv4 address it carries
try api fd00:19::66 443           # plain IPv6: the policy has no IPv6 CIDR
try db 198.19.0.10 443            # the database has no egress at all
try api 198.18.0.12 5432          # api -> db on the port its toContainers rule names
try api 198.18.0.12 22            # ... on any other port
try db 198.18.0.11 5432           # db -> api: no rule of db's names api

sleep 0.3
say "events (JSON lines, docs/reference/events-and-metrics.md)"
grep -v '"policy-applied"\|"agent-ready"\|"container-started"' "$WORK/events.jsonl" |
    python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    p, d = e["palisade"], e.get("destination", {})
    orig = " (from %s)" % p["original_destination"] if "original_destination" in p else ""
    peer = " (container %s)" % d["container"]["name"] if "container" in d else ""
    print("  %-7s %-16s %-17s %s:%s%s%s  container=%s pid=%s" % (p["verdict"], p["reason"],
          p["mechanism"], d.get("ip"), d.get("port"), orig, peer, e["container"]["name"],
          e["process"]["pid"]))
    last = line
print("\n  one event in full:\n  " + last.strip())'
