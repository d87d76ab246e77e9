#!/usr/bin/env bash
# The capability set in systemd/palisade.service is the one the agent needs: with
# exactly that bounding set it starts and enforces, and without any one of them it
# refuses to start. Then the same set in a sandbox shaped like the DaemonSet's pod
# (own mount, network, IPC, UTS and cgroup namespaces, the host's PID namespace
# (hostPID), no_new_privs, read-only
# root, host cgroup tree read-only, state on a bind-mounted bpffs directory). The
# first run also checks the sd_notify protocol the unit relies on: READY=1 with
# STATUS=, WATCHDOG=1 pings at half WATCHDOG_USEC, STOPPING=1 on SIGTERM. (The
# integration tests Privileges/InterContainer.*/shipped and Privileges/Exec.*/shipped
# run every inter-container and exec test with the unit's set as well.)
#
# usage: privileges.sh PALISADE_BINARY UNIT_FILE
# Root only (exit 77: skipped). Programs attach to a cgroup subtree this script
# creates; everything it creates is removed on exit, also on failure.
set -euo pipefail
BIN=$(readlink -f "$1")
UNIT=$2
[[ $EUID -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
for tool in setpriv unshare nsenter python3; do
    command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done

# The file system type follows the " - " separator (optional fields come before it).
CG2=$(awk '{for (i = 7; i <= NF; i++) if ($i == "-") {if ($(i + 1) == "cgroup2") {print $5; exit} break}}' /proc/self/mountinfo)
[[ -n $CG2 ]] || { echo "SKIP: no cgroup2 mount"; exit 77; }
TAG=palisade-captest-$$
ROOT=$CG2/$TAG
STATE=/sys/fs/bpf/$TAG
WORK=$(mktemp -d /tmp/$TAG.XXXX)
CONTAINER=$ROOT/system.slice/docker-$(printf '%064d' $$).scope
PIDS=()

cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    for cfg in "$WORK"/*.yaml; do
        [[ -f $cfg ]] && "$BIN" cleanup --config "$cfg" >/dev/null 2>&1
    done
    rm -rf "$STATE"
    for p in $(cat "$CONTAINER/cgroup.procs" 2>/dev/null); do kill -KILL "$p"; done
    find "$ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# CapabilityBoundingSet=CAP_BPF CAP_PERFMON ... -> bpf perfmon ...
mapfile -t CAPS < <(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr ' ' '\n' |
    sed -n 's/^CAP_//p' | tr '[:upper:]' '[:lower:]')
((${#CAPS[@]})) || fail "no CapabilityBoundingSet= in $UNIT"
echo "unit capability set: ${CAPS[*]}"
bounding() { local IFS=,; echo "-all${1:+,+${1//,/,+}}"; }

mkdir -p "$CONTAINER" "$WORK/policies.d"
cat >"$WORK/policies.d/test.yaml" <<'POLICY'
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: captest}
spec:
  selector: {id: "*"}
  mode: enforce
  egress:
    - toCIDR: ["198.19.0.10/32"]
POLICY

# config NAME CGROUP_ROOT STATE_DIR SOCKET: writes $WORK/NAME.yaml.
config() {
    cat >"$WORK/$1.yaml" <<CONFIG
cgroupRoot: $2
policyDir: $WORK/policies.d
stateDir: $3
controlSocket: $4
events:
  sinks: [{type: stdout}]
CONFIG
}

# wait_ready PID EVENTS: 0 once agent-ready is written, 1 if the agent exits first.
wait_ready() {
    for _ in $(seq 150); do
        grep -q '"agent-ready"' "$2" 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# What a process in the test container gets from connect() to a destination the
# policy does not allow. In a network namespace of its own without routes, so that
# nothing can leave the machine whatever happens: EPERM means the cgroup hook
# refused it, ENETUNREACH that it was not enforced.
connect_from_container() {
    sh -c "echo \$\$ >'$CONTAINER/cgroup.procs' && exec unshare --net python3 -c '
import errno, socket
s = socket.socket()
try:
    s.connect((\"198.19.0.66\", 443)); print(\"connected\")
except OSError as e:
    print(errno.errorcode[e.errno])'"
}

echo "== 1. the unit's capability set: starts, enforces, speaks sd_notify"
config unit "$ROOT" "$STATE" "$WORK/unit.sock"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(1)
end = time.time() + 60
with open(sys.argv[2], "w", buffering=1) as out:
    while time.time() < end:
        try:
            out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
        except socket.timeout:
            pass' "$WORK/notify.sock" "$WORK/notify.log" &
PIDS+=($!)
for _ in $(seq 50); do [[ -S $WORK/notify.sock ]] && break; sleep 0.1; done
NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=400000 \
    setpriv --bounding-set="$(bounding "$(IFS=,; echo "${CAPS[*]}")")" -- \
    sh -c 'export WATCHDOG_PID=$$; exec "$0" run --config "$1"' "$BIN" "$WORK/unit.yaml" \
    >"$WORK/unit.events" 2>"$WORK/unit.log" &
AGENT=$!
PIDS+=("$AGENT")
wait_ready $AGENT "$WORK/unit.events" || { cat "$WORK/unit.log"; fail "agent did not start"; }
grep -q '^CapEff:' /proc/$AGENT/status
"$BIN" status --socket "$WORK/unit.sock" >/dev/null || fail "status over the control socket"
got=$(connect_from_container)
[[ $got == EPERM ]] || fail "connect from the container: $got, expected EPERM"
echo "   started with {${CAPS[*]}}; status answers; denied connect: $got"
sleep 1
kill -TERM $AGENT
rc=0
wait $AGENT || rc=$?
[[ $rc == 0 ]] || { cat "$WORK/unit.log"; fail "agent exited $rc on SIGTERM"; }
sleep 0.3
grep -q '^READY=1|STATUS=enforcing below ' "$WORK/notify.log" || fail "no READY=1 with STATUS="
pings=$(grep -c '^WATCHDOG=1$' "$WORK/notify.log" || true)
((pings >= 3)) || fail "$pings WATCHDOG=1 pings in ~1.5 s at WATCHDOG_USEC=400000"
grep -q '^STOPPING=1|STATUS=' "$WORK/notify.log" || fail "no STOPPING=1 on SIGTERM"
echo "   sd_notify: READY=1 + STATUS, $pings watchdog pings, STOPPING=1"
got=$(connect_from_container)
[[ $got == EPERM ]] || fail "connect while the agent is stopped: $got, expected EPERM"
# A restart adopts the pins (BPF_OBJ_GET, BPF_LINK_UPDATE): the same set suffices.
setpriv --bounding-set="$(bounding "$(IFS=,; echo "${CAPS[*]}")")" -- \
    "$BIN" run --config "$WORK/unit.yaml" >"$WORK/restart.events" 2>"$WORK/restart.log" &
AGENT=$!
PIDS+=("$AGENT")
wait_ready $AGENT "$WORK/restart.events" || { cat "$WORK/restart.log"; fail "restart failed"; }
grep -q 'adopted the maps pinned' "$WORK/restart.log" || fail "the restart did not adopt the pins"
got=$(connect_from_container)
[[ $got == EPERM ]] || fail "connect after the restart: $got, expected EPERM"
kill -TERM $AGENT
wait $AGENT
echo "   stopped: still EPERM; restarted with the same set, pins adopted: EPERM"
"$BIN" cleanup --config "$WORK/unit.yaml" >/dev/null 2>&1

echo "== 2. each capability is needed: without it the agent refuses to start"
for drop in "${CAPS[@]}"; do
    rest=()
    for c in "${CAPS[@]}"; do [[ $c == "$drop" ]] || rest+=("$c"); done
    setpriv --bounding-set="$(bounding "$(IFS=,; echo "${rest[*]}")")" -- \
        "$BIN" run --config "$WORK/unit.yaml" >"$WORK/drop.events" 2>"$WORK/drop.log" &
    AGENT=$!
    PIDS+=("$AGENT")
    if wait_ready $AGENT "$WORK/drop.events"; then
        fail "started without CAP_${drop^^}: the unit's set is not minimal"
    fi
    rc=0
    wait $AGENT || rc=$?
    ((rc != 0)) || fail "exit 0 without CAP_${drop^^}"
    echo "   without CAP_${drop^^}: exit $rc: $(grep -m1 critical "$WORK/drop.log" | cut -c25-)"
    "$BIN" cleanup --config "$WORK/unit.yaml" >/dev/null 2>&1 || true
done

echo "== 3. the same set in a sandbox shaped like the DaemonSet's pod"
mkdir -p "$STATE" "$WORK/host-cgroup" "$WORK/bpf" "$WORK/run" "$WORK/empty"
config pod "$WORK/host-cgroup/$TAG" "$WORK/bpf" "$WORK/run/palisade.sock"
unshare --mount --propagation private --net --ipc --uts --cgroup -- sh -c '
    set -e
    work=$1 cg2=$2 state=$3 caps=$4 bin=$5
    mount --bind -o ro "$cg2" "$work/host-cgroup"          # hostPath, readOnly
    mount --bind "$state" "$work/bpf"                       # hostPath /sys/fs/bpf/palisade
    mount --bind -o ro "$work/empty" /sys/fs/bpf            # no host bpffs at /sys/fs/bpf
    mount -t tmpfs -o size=1m tmpfs "$work/run"             # emptyDir for the socket
    mount -o remount,bind,ro /                              # readOnlyRootFilesystem
    exec setpriv --no-new-privs --bounding-set="$caps" -- "$bin" run --config "$work/pod.yaml"
' sh "$WORK" "$CG2" "$STATE" "$(bounding "$(IFS=,; echo "${CAPS[*]}")")" "$BIN" \
    >"$WORK/pod.events" 2>"$WORK/pod.log" &
AGENT=$!  # unshare, then sh, then setpriv exec the agent in this process
PIDS+=("$AGENT")
wait_ready $AGENT "$WORK/pod.events" || { cat "$WORK/pod.log"; fail "agent did not start"; }
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$AGENT/status || fail "no_new_privs not set"
nsenter --target $AGENT --mount -- "$BIN" status --socket "$WORK/run/palisade.sock" >/dev/null ||
    fail "status over the control socket in the pod's mount namespace"
got=$(connect_from_container)
[[ $got == EPERM ]] || fail "connect from the container: $got, expected EPERM"
echo "   started; status answers; denied connect: $got"
kill -TERM $AGENT
rc=0
wait $AGENT || rc=$?
[[ $rc == 0 ]] || { cat "$WORK/pod.log"; fail "agent exited $rc on SIGTERM"; }
echo "3 passed, 0 failed"
