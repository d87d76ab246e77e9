#!/bin/bash
# The systemd guest's checks (vmtests/systemd.sh): run by palisade-vmtest.service,
# a oneshot unit ordered after multi-user.target, in a Debian 12 guest whose PID 1
# is systemd and into which palisade was installed with `cmake --install --prefix
# /usr`. It drives the shipped unit with systemctl and reads the journal; every
# line for the host goes to the second serial port (/dev/ttyS1):
#   CHECK <name> PASS|FAIL: <detail> [t+<s since the script began>]
#   PALISADE-VM-RESULT exit=<number of failed checks>
# then the guest powers off.
#
# The checks, in order: perf-paranoid (starts at Debian's
# kernel.perf_event_paranoid=3), start (Type=notify: active/running and EPERM the
# moment systemctl start returns), status-text (generation in StatusText=),
# control-socket, metrics, exec-setuid and exec-mechanism (BPF LSM or the
# tracepoint fallback, as the boot's lsm= says), reload (SIGHUP applies an edited
# policy, both ways), inter-container (C's address learned), watchdog (armed, pings
# arrive, still running past WatchdogSec), restart (a loop of connects from A
# through systemctl restart: every one EPERM), stop (EPERM and pins stay), cleanup
# (connect let through, no pins), journal (no failure lines since the start),
# syscall-filter (SystemCallLog= in place of the filter: no call outside it).
#
# The "containers": two docker-style scopes (system.slice/docker-<64 hex>.scope,
# made with systemd-run --scope as dockerd's systemd cgroup driver does), each a
# process in a network namespace of its own; all traffic stays in namespaces made
# here, on 198.18.0.0/15:
#   ctrA (container A)  vA0 198.18.0.1/24 <-> vO 198.18.0.2/24  out (no container)
#                       vA1 198.18.1.1/24 <-> vC 198.18.1.3/24  ctrC (container C)
# Container A's policy allows 198.18.1.0/24 port 80 (C's subnet, so that C is
# refused only as another container) and not 198.18.0.2: a refused connect fails
# with EPERM, one let through gets ECONNREFUSED from the namespace behind it.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec 3>>/dev/ttyS1

say() { echo "vmtests: $*" >&3; }
# PALISADE_VM_DEBUG=1 (vmtests/systemd.sh): trace every command to the host.
if grep -qw palisade.vmdebug=1 /proc/cmdline; then
    BASH_XTRACEFD=3
    PS4='+ ${SECONDS}s: '
    set -x
fi
failures=0
check() {  # check NAME PASS|FAIL DETAIL
    echo "CHECK $1 $2: $3 [t+${SECONDS}s]" >&3
    [[ $2 == FAIL ]] && failures=$((failures + 1))
    return 0
}
finish() {
    say "palisade's journal (the agent's own lines; events left out):"
    journalctl -u palisade -o short-monotonic --no-pager 2>&1 |
        grep -v '"event":' | tail -80 | sed 's/^/  journal: /' >&3
    echo "PALISADE-VM-RESULT exit=$failures" >&3
    sync
    systemctl poweroff --no-block
}
trap finish EXIT

idA=$(printf 'a%.0s' {1..64})
idC=$(printf 'c%.0s' {1..64})
cgA=/sys/fs/cgroup/system.slice/docker-$idA.scope
policy=/etc/palisade/policies.d/vmtest.yaml
config=/etc/palisade/palisade.yaml
expect_lsm=0
grep -qw 'lsm=[a-z,]*bpf[a-z,]*' /proc/cmdline && expect_lsm=1
lsm_list=$(cat /sys/kernel/security/lsm)

say "kernel $(uname -r), $(systemctl --version | head -1), active LSMs: $lsm_list," \
    "up $(cut -d' ' -f1 /proc/uptime) s, $(systemctl is-system-running) system"
reached=$(systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target)
say "multi-user.target reached at $((reached / 1000000)).$(printf %02d $((reached / 10000 % 100))) s"

# Run a command in container A: its cgroup and its network namespace.
in_a() {
    sh -c 'echo $$ >"$0/cgroup.procs" && exec nsenter --net=/run/netns/ctrA -- "$@"' "$cgA" "$@"
}
connect_a() { in_a pvm-connect "$@"; }
# wait_connect ADDR WANT SECONDS: polls until a connect from A gives WANT.
wait_connect() {
    local got end=$((SECONDS + $3))
    while :; do
        got=$(connect_a "$1" 80)
        [[ $got == "$2" ]] && { echo "$got"; return 0; }
        ((SECONDS < end)) || break
        sleep 0.2
    done
    echo "$got"
    return 1
}
prop() { systemctl show -p "$1" --value palisade; }
generation() { palisade status --json 2>/dev/null | sed -n 's/.*"generation": *\([0-9]*\).*/\1/p' | head -1; }
pins() { find /sys/fs/bpf/palisade -mindepth 1 -not -type d 2>/dev/null | wc -l; }

write_policy() {  # write_policy [EXTRA_CIDR]
    {
        cat <<POLICY
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: vmtest-a}
spec:
  selector: {id: "$idA"}
  mode: enforce
  egress:
    - toCIDR: ["198.18.1.0/24"]
      ports: [{port: 80, protocol: TCP}]
POLICY
        if [[ -n ${1:-} ]]; then
            cat <<POLICY
    - toCIDR: ["$1"]
      ports: [{port: 80, protocol: TCP}]
POLICY
        fi
        echo '  exec: {setuid: deny}'
    } >"$policy.tmp"
    mv "$policy.tmp" "$policy"
}

# --- the guest's containers ------------------------------------------------
setup() {
    modprobe veth || return 1
    local ns
    for ns in ctrA ctrC out; do
        ip netns add $ns && ip -n $ns link set lo up || return 1
    done
    ip link add vA0 netns ctrA type veth peer name vO netns out &&
        ip link add vA1 netns ctrA type veth peer name vC netns ctrC &&
        ip -n ctrA addr add 198.18.0.1/24 dev vA0 && ip -n ctrA addr add 198.18.1.1/24 dev vA1 &&
        ip -n out addr add 198.18.0.2/24 dev vO && ip -n ctrC addr add 198.18.1.3/24 dev vC &&
        ip -n ctrA link set vA0 up && ip -n ctrA link set vA1 up &&
        ip -n out link set vO up && ip -n ctrC link set vC up || return 1
    systemd-run --quiet --scope --unit="docker-$idA" --slice=system.slice \
        nsenter --net=/run/netns/ctrA -- sleep 100000 </dev/null >/dev/null 2>&1 &
    systemd-run --quiet --scope --unit="docker-$idC" --slice=system.slice \
        nsenter --net=/run/netns/ctrC -- sleep 100000 </dev/null >/dev/null 2>&1 &
    local i
    for ((i = 0; i < 300; i++)); do  # 30 s: systemd-run is slow under TCG
        # (cgroupfs files have size 0: read them)
        grep -qs . "$cgA/cgroup.procs" && grep -qs . "${cgA/$idA/$idC}/cgroup.procs" && break
        sleep 0.1
    done
    grep -qs . "$cgA/cgroup.procs" || { say "no process in $cgA"; return 1; }
    write_policy
}
if ! setup; then
    check setup FAIL "could not build the guest's containers"
    exit 1
fi
before=$(connect_a 198.18.0.2 80)
if [[ $before != ECONNREFUSED ]]; then
    check setup FAIL "before palisade runs a connect from A to 198.18.0.2:80 gives $before, not ECONNREFUSED"
    exit 1
fi
say "containers A and C up; before palisade runs, A -> 198.18.0.2:80: $before"

# --- 1. start: active (running) only once enforcement is in force -----------
# Debian's kernels default to kernel.perf_event_paranoid=3, a Debian patch under
# which perf_event_open() needs CAP_SYS_ADMIN (CAP_PERFMON is not enough). The
# agent attaches every program through a BPF link, without perf_event_open(),
# and must start under it with the unit's capabilities.
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)
timed_start() {  # sets t0, took_ms; systemctl's output in /run/vmtest-start.out
    local rc=0 started
    t0=$SECONDS
    started=$(date +%s%N)
    systemctl start palisade >/run/vmtest-start.out 2>&1 || rc=$?
    took_ms=$((($(date +%s%N) - started) / 1000000))
    return $rc
}
since=$(date '+%Y-%m-%d %H:%M:%S')
if timed_start; then
    check perf-paranoid PASS "started with kernel.perf_event_paranoid=$paranoid"
elif ((paranoid > 2)) && journalctl -u palisade -o cat --no-pager | grep -q 'perf_event_open'; then
    check perf-paranoid FAIL "kernel.perf_event_paranoid=$paranoid: the agent called perf_event_open()"
fi
if [[ $(prop ActiveState) != active ]]; then
    check start FAIL "systemctl start palisade failed: $(cat /run/vmtest-start.out)"
    systemctl status palisade --no-pager -l 2>&1 | tail -20 | sed 's/^/  status: /' >&3
    exit 1
fi
got=$(connect_a 198.18.0.2 80)   # at once, before anything else
state=$(prop ActiveState)/$(prop SubState)
if [[ $got == EPERM && $state == active/running ]]; then
    check start PASS "systemctl start returned after $((took_ms / 1000)).$(printf %03d $((took_ms % 1000))) s; $state; the first connect after it: EPERM; $(pins) pins under /sys/fs/bpf/palisade"
else
    check start FAIL "after systemctl start: $state, connect from A: $got (want active/running and EPERM)"
fi
mainpid=$(prop MainPID)
if command -v bpftool >/dev/null; then
    say "programs on /sys/fs/cgroup: $(bpftool cgroup show /sys/fs/cgroup 2>/dev/null |
        awk 'NR > 1 {print $2 "/" $NF}' | sort | uniq -c | tr -s ' \n' ' ')"
fi

# --- 2. the status systemd shows ---------------------------------------------
status_text=$(prop StatusText)
gen=$(generation)
if [[ $status_text =~ generation[^0-9]*([0-9]+) ]]; then
    if [[ ${BASH_REMATCH[1]} == "$gen" ]]; then
        check status-text PASS "StatusText=\"$status_text\" (palisade status: generation $gen)"
    else
        check status-text FAIL "StatusText=\"$status_text\" but palisade status says generation $gen"
    fi
else
    check status-text FAIL "StatusText=\"$status_text\": no generation in it (palisade status: generation ${gen:-?})"
fi

# --- 3. what the sandbox must still allow ------------------------------------
if palisade status >/dev/null 2>&1 && [[ -n $gen ]]; then
    check control-socket PASS "palisade status answers on /run/palisade/palisade.sock (RuntimeDirectory=)"
else
    check control-socket FAIL "palisade status: $(palisade status 2>&1 | head -3 | tr '\n' ' ')"
fi
metrics=$(timeout 5 bash -c 'exec 4<>/dev/tcp/127.0.0.1/9464 &&
    printf "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n" >&4 && cat <&4' 2>&1 | tr -d '\r')
if [[ $metrics == "HTTP/1."?" 200"* ]]; then
    check metrics PASS "GET /metrics on 127.0.0.1:9464: 200, $(grep -c '^palisade_' <<<"$metrics") palisade_ samples (IPAddressAllow=localhost)"
else
    check metrics FAIL "GET /metrics on 127.0.0.1:9464: $(head -2 <<<"$metrics" | tr '\n' ' ')"
fi

# --- 4. the watchdog is armed (checked again below, past WatchdogSec) ---------
wd_usec=$(prop WatchdogUSec)
wd_first=$(prop WatchdogTimestampMonotonic)
say "WatchdogUSec=$wd_usec, last ping at ${wd_first} us (monotonic)"

# --- 5. exec policy under the unit (setuid: deny) ----------------------------
suid=/usr/bin/su
[[ -u $suid ]] || suid=$(find /usr/bin -maxdepth 1 -perm -4000 -user root -type f | head -1)
if [[ -n $suid ]]; then
    out=$(in_a setpriv --reuid=65534 --regid=65534 --clear-groups "$suid" --version 2>&1 </dev/null)
    rc=$?
    if ((expect_lsm)); then
        if [[ $out == *"Operation not permitted"* && $rc != 0 ]]; then
            check exec-setuid PASS "uid 65534 in A running $suid: EPERM (BPF LSM)"
        else
            check exec-setuid FAIL "uid 65534 in A running $suid: exit $rc, $out (want EPERM)"
        fi
    elif ((rc == 137)); then
        check exec-setuid PASS "uid 65534 in A running $suid: killed, SIGKILL (tracepoint fallback)"
    else
        check exec-setuid FAIL "uid 65534 in A running $suid: exit $rc, $out (want SIGKILL)"
    fi
fi
mech=$(journalctl -u palisade -o cat --no-pager | grep -o 'exec policy through [a-z_/]*' | tail -1)
want=tp_btf/sched_process_exec
((expect_lsm)) && want=lsm/bprm_creds_from_file
if [[ $mech == *"$want" ]]; then
    check exec-mechanism PASS "journal: \"$mech\" (lsm= $lsm_list)"
else
    check exec-mechanism FAIL "journal: \"${mech:-nothing}\", want $want (lsm= $lsm_list)"
fi

# --- 6. reload applies an edited policy, both ways ---------------------------
# The agent also re-reads policyDir on inotify events: the reload counts when
# systemctl reload succeeds and the agent logs the SIGHUP, and the connect follows.
sighups() { journalctl -u palisade -o cat --no-pager | grep -c 'SIGHUP: re-reading policies'; }
reload_to() {  # reload_to WANT [EXTRA_CIDR]: edit, reload, wait for WANT from A
    local before out
    before=$(sighups)
    write_policy "${2:-}"
    if ! out=$(systemctl reload palisade 2>&1); then
        echo "systemctl reload: $out"
        return 1
    fi
    if ! got=$(wait_connect 198.18.0.2 "$1" 15); then
        echo "A -> 198.18.0.2 still $got 15 s after the reload"
        return 1
    fi
    for ((i = 0; i < 50; i++)); do
        (($(sighups) > before)) && return 0
        sleep 0.1
    done
    echo "reload returned, connect gave $1, but the agent logged no SIGHUP"
    return 1
}
gen0=$gen
if why=$(reload_to ECONNREFUSED 198.18.0.2/32); then
    gen1=$(generation)
    if why=$(reload_to EPERM); then
        check reload PASS "allowed 198.18.0.2: ECONNREFUSED (generation $gen0 -> $gen1); taken back: EPERM (generation $(generation)); SIGHUP logged each time; MainPID $mainpid -> $(prop MainPID)"
    else
        check reload FAIL "taking the allowance back: $why"
    fi
else
    check reload FAIL "allowing 198.18.0.2: $why"
fi
write_policy   # as it was, whatever happened above
wait_connect 198.18.0.2 EPERM 15 >/dev/null
[[ $(prop MainPID) == "$mainpid" ]] || check reload FAIL "the reload changed MainPID $mainpid -> $(prop MainPID)"

# --- 7. inter-container isolation needs the containers' addresses ------------
if got=$(wait_connect 198.18.1.3 EPERM 6); then
    check inter-container PASS "A -> C (198.18.1.3:80, inside A's toCIDR): EPERM, C's address was learned"
else
    check inter-container FAIL "A -> C (198.18.1.3:80): $got after 6 s, want EPERM (C is a container, interContainer: deny): the agent did not learn C's address; palisade containers: $(palisade containers --json 2>&1 | tr -d '\n' | cut -c1-600)"
fi

# --- 4'. the watchdog, past WatchdogSec ---------------------------------------
# "30s" -> 30000000 (the "μs:" line of systemd-analyze timespan)
wd_s=$(systemd-analyze timespan "$wd_usec" 2>/dev/null | sed -n 's/^ *[^ ]*s: *\([0-9][0-9]*\)$/\1/p')
wd_s=$(((${wd_s:-30000000} + 999999) / 1000000))
while ((SECONDS - t0 < wd_s + 3 && SECONDS - t0 < 120)); do sleep 1; done
wd_last=$(prop WatchdogTimestampMonotonic)
if [[ $wd_usec != 0 && -n $wd_usec && $(prop MainPID) == "$mainpid" && $(prop NRestarts) == 0 &&
    $(prop SubState) == running && $wd_last != "$wd_first" ]]; then
    check watchdog PASS "WatchdogUSec=$wd_usec; still running $((SECONDS - t0)) s after start, same MainPID, NRestarts=0; pings seen at ${wd_first} and ${wd_last} us"
else
    check watchdog FAIL "WatchdogUSec=$wd_usec, MainPID $mainpid -> $(prop MainPID), NRestarts=$(prop NRestarts), $(prop SubState), pings ${wd_first} -> ${wd_last} us after $((SECONDS - t0)) s"
fi

# --- 8. restart: no moment without enforcement -------------------------------
rm -f /run/vmtest-stop
in_a pvm-connect 198.18.0.2 80 /run/vmtest-stop 60 >/run/vmtest-loop 2>&1 &
loop=$!
sleep 0.5
r0=$SECONDS
restart_out=$(systemctl restart palisade 2>&1)
restart_rc=$?
restart_s=$((SECONDS - r0))
sleep 0.5
touch /run/vmtest-stop
wait "$loop"
tally=$(cat /run/vmtest-loop)
newpid=$(prop MainPID)
if [[ $restart_rc == 0 && $tally == *" other=0 "* && $newpid != "$mainpid" &&
    $(prop SubState) == running && ${tally%% *} != attempts=0 ]]; then
    check restart PASS "connects from A during systemctl restart (${restart_s} s): $tally; MainPID $mainpid -> $newpid"
else
    check restart FAIL "systemctl restart: rc $restart_rc $restart_out; connects from A: $tally; MainPID $mainpid -> $newpid, $(prop SubState)"
fi
if journalctl -u palisade -o cat --no-pager | grep -q 'adopted the maps pinned'; then
    say "the restarted agent adopted the pinned maps (journal)"
fi

# --- 9. stop leaves enforcement in place; cleanup removes it -----------------
systemctl stop palisade
got=$(connect_a 198.18.0.2 80)
state=$(prop ActiveState)
npins=$(pins)
if [[ $state == inactive && $got == EPERM && $npins -gt 0 ]]; then
    check stop PASS "systemctl stop: inactive; connect from A: EPERM; $npins pins left"
else
    check stop FAIL "systemctl stop: $state; connect from A: $got; $npins pins"
fi
out=$(palisade cleanup --config "$config" 2>&1)
rc=$?
got=$(connect_a 198.18.0.2 80)
npins=$(pins)
if [[ $rc == 0 && $got == ECONNREFUSED && $npins == 0 ]]; then
    check cleanup PASS "palisade cleanup: connect from A: ECONNREFUSED; no pins under /sys/fs/bpf/palisade$([[ -d /sys/fs/bpf/palisade ]] || echo ' (directory gone)')"
else
    check cleanup FAIL "palisade cleanup: exit $rc ($out); connect from A: $got; $npins pins left"
fi

# --- 10. what systemd and the kernel said about the unit ---------------------
bad=$(journalctl -b --since "$since" --no-pager -o cat 2>&1 |
    grep -E 'palisade\.service: (Main process exited|Failed|Watchdog timeout)|audit.*palisade.*(SECCOMP|seccomp)' |
    grep -v 'status=0/SUCCESS' | sort | uniq -c | head -5)
warned=$(journalctl -u palisade -o cat --no-pager | grep -v '"event":' | grep -ciE '\[(warning|error|critical)\]')
if [[ -z $bad ]]; then
    check journal PASS "since the start above: no failure, watchdog timeout or seccomp line for palisade.service; $warned warning/error lines from the agent"
else
    check journal FAIL "$(tr '\n' ' ' <<<"$bad")"
fi
# --- 11. the system-call filter: nothing the agent calls is outside it -------
# SystemCallErrorNumber=EPERM makes a filtered call fail quietly. A drop-in swaps
# the filter for SystemCallLog= of every call outside it (the kernel's audit log,
# seccomp type 1326) and the agent goes through start, reload, status and stop.
dropin=/run/systemd/system/palisade.service.d
mkdir -p "$dropin"
allowed=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' /usr/lib/systemd/system/palisade.service | head -1)
denied=$(sed -n 's/^SystemCallFilter=~//p' /usr/lib/systemd/system/palisade.service | head -1)
printf '[Service]\nSystemCallFilter=\nSystemCallLog=~%s\n' "$allowed" >"$dropin/vmtest-log.conf"
[[ -n $denied ]] && printf 'SystemCallLog=%s\n' "$denied" >>"$dropin/vmtest-log.conf"
systemctl daemon-reload
mark=$(date '+%Y-%m-%d %H:%M:%S')
if systemctl start palisade; then
    before=$(sighups)
    systemctl reload palisade
    for ((i = 0; i < 50; i++)); do (($(sighups) > before)) && break; sleep 0.1; done
    palisade status >/dev/null 2>&1
    timeout 5 bash -c 'exec 4<>/dev/tcp/127.0.0.1/9464 &&
        printf "GET /metrics HTTP/1.0\r\n\r\n" >&4 && cat <&4' >/dev/null 2>&1
    systemctl stop palisade
    sleep 0.5
    calls=$(journalctl -k -b --since "$mark" -o cat --no-pager |
        grep 'type=1326' | grep 'comm="palisade"' | grep -o 'syscall=[0-9]*' | sort | uniq -c |
        tr -s ' \n' ' ')
    if [[ -z $calls ]]; then
        check syscall-filter PASS "start, reload, status, metrics, stop: no call outside SystemCallFilter=$allowed ~$denied"
    else
        check syscall-filter FAIL "calls outside SystemCallFilter= (x86_64 numbers, count): $calls"
    fi
else
    check syscall-filter FAIL "did not start with SystemCallLog= in place of the filter"
fi
rm -rf "$dropin"
systemctl daemon-reload
palisade cleanup --config "$config" >/dev/null 2>&1

say "systemd-analyze security palisade.service: $(systemd-analyze security palisade.service 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: //p')"
say "checks done at $(cut -d' ' -f1 /proc/uptime) s of uptime"
