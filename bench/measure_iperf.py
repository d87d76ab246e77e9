"""Bulk TCP throughput (iperf3, container -> bridge) with palisade's
packet-level hook on and off, and that program's own cost per packet."""

import ctypes
import json
import os
import struct
import subprocess
import time

from common import BenchError, libc, log, run, stop_process
from configs import palisade_policies, verify
from sandbox import BRIDGE_IP

IPERF_PORT = 5301


def iperf_block(b, cgroup, seconds):
    """One iperf3 stream from c0 in `cgroup`; returns the received bit/s."""
    srv = b.sb.spawn(b.nb.argv("exec", ["--", "iperf3", "-s", "-1", "-p", IPERF_PORT,
                                        "-B", BRIDGE_IP], netns=b.sb.bridge, cpu=1),
                     "iperf3 server", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_listening(b.sb.bridge, IPERF_PORT)
    r = run(b.nb.argv("exec", ["--", "iperf3", "-c", BRIDGE_IP, "-p", IPERF_PORT, "-t",
                               seconds, "-J"], netns=b.c0, cgroup=cgroup, cpu=0),
            timeout=seconds + 30)
    stop_process(srv)
    return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]


def _wait_listening(netns, port, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = run(["ip", "netns", "exec", netns, "ss", "-Hltn", f"sport = :{port}"], check=False)
        if r.stdout.strip():
            return
        time.sleep(0.02)


def run_iperf(b):
    pairs = [iperf_pair(b, rnd) for rnd in range(b.args.iperf_rounds)]
    b.data["iperf"] = {"pairs": pairs, "skb_egress": skb_egress_cost(b)}


def iperf_pair(b, rnd):
    """No agent vs an agent with the packet-level hook, alternating which goes first."""
    seconds = b.args.iperf_seconds
    c = {"name": "palisade-iperf", "mech": "palisade", "k": 10, "netns": b.c0}
    on_first = rnd % 2 == 1
    if not on_first:
        off = iperf_block(b, b.sb.plain_cg, seconds)
    agent = b.agents.start(palisade_policies(10))
    verify(b, c)
    on = iperf_block(b, b.sb.bench_cg, seconds)
    b.agents.stop(agent)
    if on_first:
        off = iperf_block(b, b.sb.plain_cg, seconds)
    log(f"  iperf3 round {rnd + 1}: off {off / 1e9:.2f} Gbit/s, on {on / 1e9:.2f} "
        f"Gbit/s ({100 * on / off:.1f}%)")
    return {"on_bps": on, "off_bps": off, "ratio": on / off}


def skb_egress_cost(b):
    """pal_skb_egress's run count and ns per run over one short stream, with
    BPF run-time statistics on; None when they cannot be read."""
    agent = b.agents.start(palisade_policies(10))
    prog = agent["programs"].get("pal_skb_egress")
    stats_fd = None
    try:
        stats_fd = _enable_bpf_stats()
        before = _prog_info(prog) if prog else None
        iperf_block(b, b.sb.bench_cg, min(b.args.iperf_seconds, 2))
        after = _prog_info(prog) if prog else None
    finally:
        if stats_fd is not None:
            os.close(stats_fd)
        b.agents.stop(agent)
    if not (before and after and after[0] > before[0]):
        return None
    return {"run_cnt": after[0] - before[0],
            "ns_per_run": (after[1] - before[1]) / (after[0] - before[0])}


def _enable_bpf_stats():
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): on while the returned fd is open."""
    BPF_ENABLE_STATS = 32
    attr = ctypes.create_string_buffer(struct.pack("I", 0) + b"\0" * 124)  # BPF_STATS_RUN_TIME
    fd = libc.syscall(321, BPF_ENABLE_STATS, attr, 128)  # __NR_bpf on x86_64
    if fd < 0:
        raise BenchError(f"BPF_ENABLE_STATS: errno {ctypes.get_errno()}")
    return fd


def _prog_info(prog_id):
    r = run(["bpftool", "-j", "prog", "show", "id", str(prog_id)], check=False)
    if r.returncode != 0:
        return None
    info = json.loads(r.stdout)
    return info.get("run_cnt", 0), info.get("run_time_ns", 0)
