"""connect() and sendto() rates of every configuration, and palisade's own BPF
run time per call.

Each configuration is measured once per round (the order rotating), each test
as one netbench process alternating every slice between the configuration
and its baseline; the node-wide cost of a loaded agent (palisade-host) is
measured as block pairs, agent loaded vs no agent, alternating which block
goes first (docs/reference/targets.md: block-to-block drift on a small VM reaches ±25%)."""

import json
import os
import statistics
import time

from common import BenchError, log, run, stop_process
from configs import cgroup_of, palisade_policies, verify
from netbench import TCP_PORT, UDP_PORT
from proc import proc_cpu_seconds
from sandbox import BRIDGE_IP

TESTS = ("tcp", "udp")


def _load(args, test):
    """(subcommand, port, seconds per block or side, warm-up) of a test."""
    if test == "tcp":
        return "connect", TCP_PORT, args.tcp_seconds, args.tcp_warmup
    return "sendto", UDP_PORT, args.udp_seconds, args.udp_warmup


def block(b, config, test, rnd, extra=()):
    """One block of `test` in `config`, the client on CPU 0."""
    sub, port, seconds, warmup = _load(b.args, test)
    count = 2000000 if test == "tcp" else 20000000
    r = b.nb.call(sub, ["--to", f"{BRIDGE_IP}:{port}", "--seconds", seconds, "--count", count,
                        "--warmup", warmup, "--max-errors", 100, *extra],
                  config["netns"], cgroup_of(b.sb, config), cpu=0, timeout=60)
    if r["errors"]:
        raise BenchError(f"{config['name']} {test}: errors {r['errors']}")
    return b.record_block(config, test, rnd, r)


def alt_block(b, config, test, rnd):
    """One netbench process alternating every slice between `config`
    (placement A) and the baseline (B): the container netns c0 and the plain
    cgroup, i.e. no filter at all for iptables, nftables and the floor, and the same
    process outside every container (agent loaded) for palisade."""
    sub, port, per_side, warmup = _load(b.args, test)
    r = b.nb.call(sub, ["--to", f"{BRIDGE_IP}:{port}", "--seconds", per_side,
                        "--count", 100000000, "--warmup", warmup, "--max-errors", 100,
                        "--alt-cgroup", b.sb.plain_cg, "--alt-netns", b.c0,
                        "--slice-ms", b.args.slice_ms],
                  config["netns"], cgroup_of(b.sb, config), cpu=0, timeout=2 * per_side + 60)
    if r["a"]["errors"] or r["b"]["errors"]:
        raise BenchError(f"{config['name']} {test}: errors {r['a']['errors']} "
                         f"{r['b']['errors']}")
    return b.record_block(config, test, rnd, r, kind="alternating")


def run_rounds(b):
    """Every configuration once per round; the agent's start time and CPU use
    are recorded on the way."""
    tests = [c for c in b.configs if c["mech"] != "none"]
    for c in b.configs:
        if c["mech"] != "palisade":
            verify(b, c)
    pairs = []
    agent_cpu = {}
    for rnd in range(b.args.rounds):
        b.note_load(f"round {rnd + 1}")
        order = tests[rnd % len(tests):] + tests[: rnd % len(tests)]
        log(f"round {rnd + 1}/{b.args.rounds} (load {os.getloadavg()[0]:.2f})")
        for i, c in enumerate(order):
            if c["mech"] == "palisade-host":
                pairs += host_pairs(b, c, rnd, baseline_first=(rnd + i) % 2 == 0)
            else:
                alternating(b, c, rnd, agent_cpu)
    b.data["pairs"] = pairs
    b.data["agent_cpu_share"] = agent_cpu


def host_pairs(b, c, rnd, baseline_first):
    """A block pair per test: the agent loaded (the client outside every
    container) against no agent at all."""
    none = b.configs[0]
    if baseline_first:
        base = {t: block(b, none, t, rnd) for t in TESTS}
    agent = b.agents.start(palisade_policies(c["k"]))
    verify(b, c)
    test = {t: block(b, c, t, rnd) for t in TESTS}
    b.agents.stop(agent)
    if not baseline_first:
        base = {t: block(b, none, t, rnd) for t in TESTS}
    pairs = [{"config": c["name"], "mech": c["mech"], "k": c["k"], "test": t, "round": rnd,
              "ratio": base[t]["rate"] / test[t]["rate"], "test_rate": test[t]["rate"],
              "base_rate": base[t]["rate"], "test_lat": test[t]["latency"],
              "base_lat": base[t]["latency"]} for t in TESTS]
    log(f"  {c['name']:>16}: tcp x{pairs[0]['ratio']:.3f}, udp x{pairs[1]['ratio']:.3f}"
        " (block pair vs no agent)")
    return pairs


def alternating(b, c, rnd, agent_cpu):
    """The alternating runs of `c`; for palisade under an agent started for
    them, whose start time and CPU share (of the runs' wall time) are noted;
    for the floor with its programs attached for them."""
    if c["mech"] == "floor":
        hooks = b.sb.spawn([b.floor_exe, "--cgroup", b.sb.pal_root, "--seconds", "600"],
                           "hook floor")
        if hooks.stdout.readline().strip() != "ready":
            raise BenchError("palisade-hook-floor did not attach its programs")
        verify(b, c)
        res = {t: alt_block(b, c, t, rnd) for t in TESTS}
        stop_process(hooks)
        return _log_alternating(c, res)
    if c["mech"] != "palisade":
        return _log_alternating(c, {t: alt_block(b, c, t, rnd) for t in TESTS})
    agent = b.agents.start(palisade_policies(c["k"]))
    verify(b, c)
    b.data.setdefault("agent_start_ms", {}).setdefault(c["name"], []).append(agent["ready_ms"])
    cpu0, t0 = proc_cpu_seconds(agent["pid"]), time.monotonic()
    res = {t: alt_block(b, c, t, rnd) for t in TESTS}
    agent_cpu.setdefault(c["name"], []).append(
        (proc_cpu_seconds(agent["pid"]) - cpu0) / (time.monotonic() - t0))
    b.agents.stop(agent)
    return _log_alternating(c, res)


def _log_alternating(c, res):
    log(f"  {c['name']:>16}: tcp x{res['tcp']['ratio_median']:.3f} "
        f"({res['tcp']['a']['rate']:.0f}/s), udp x{res['udp']['ratio_median']:.3f} "
        f"({res['udp']['a']['rate']:.0f}/s)")


def run_bpf_stats(b):
    """Each palisade program's own run time per call, with BPF_ENABLE_STATS
    on (separate blocks: the stats cost a little themselves); then one
    decision alone through BPF_PROG_TEST_RUN (palisade-decide-bench)."""
    out = {}
    for c in [c for c in b.configs if c["mech"] == "palisade"]:
        out[c["name"]] = program_run_times(b, c)
    b.data["bpf_stats"] = out
    exe = b.args.build / "bench" / "palisade-decide-bench"
    if os.access(exe, os.X_OK):
        run_decide_bench(b, exe)


def program_run_times(b, c):
    """Per test, each program's median ns per run and per operation over
    several blocks: one block can catch a burst of foreign load (a 1.5x
    outlier in one of four rule counts)."""
    agent = b.agents.start(palisade_policies(c["k"]))
    ids = ",".join(str(i) for i in agent["programs"].values())
    res = {}
    for t in TESTS:
        blocks = [block(b, c, t, -1, extra=["--bpf-stats", ids])["bpf"]
                  for _ in range(b.args.bpf_stats_blocks)]
        res[t] = [{"name": p["name"], "ns_per_run": _median_of(blocks, p["name"], "ns_per_run"),
                   "ns_per_op": _median_of(blocks, p["name"], "ns_per_op")} for p in blocks[0]]
    b.agents.stop(agent)
    conn = next((p for p in res["tcp"] if p["name"] == "pal_connect4"), {})
    send = next((p for p in res["udp"] if p["name"] == "pal_sendmsg4"), {})
    log(f"  {c['name']:>16}: pal_connect4 {conn.get('ns_per_run', 0):.0f} ns/run, "
        f"pal_sendmsg4 {send.get('ns_per_run', 0):.0f} ns/run")
    return res


def _median_of(blocks, name, key):
    return statistics.median(next(x for x in blk if x["name"] == name)[key] for blk in blocks)


def run_decide_bench(b, exe):
    ks = ",".join(str(c["k"]) for c in b.configs if c["mech"] == "palisade")
    r = run([str(exe), "--cidrs", ks, "--repeat", "200000",
             "--singles", "500" if b.args.quick else "3000"], timeout=600)
    b.data["decide"] = [json.loads(line) for line in r.stdout.splitlines() if line]
    for d in b.data["decide"]:
        log(f"  BPF_PROG_TEST_RUN, {d['cidrs']:>6} CIDRs: allow {d['allow_warm_ns']:.0f} ns "
            f"warm / {d['allow_single_ns']:.0f} ns single, deny "
            f"{d['deny_warm_ns']:.0f} / {d['deny_single_ns']:.0f} ns")
