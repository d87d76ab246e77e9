"""The event pipeline: a container floods denied connect()s (one deny event
each) on CPU 0 while the agent, pinned to CPU 1, writes every event to a file
sink; what was generated, written and dropped, and what an event costs the
process that caused it."""

import os
import time

from agent import new_events
from common import log
from configs import DENIED_IP, palisade_policies
from netbench import UDP_PORT
from proc import proc_cpu_seconds
from sandbox import BRIDGE_IP

NO_RATE_LIMIT = "  rateLimit: {perContainerPerSecond: 1000000000, burst: 1000000000}\n"


def count_lines(path, offset=0):
    n = 0
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            while chunk := f.read(1 << 22):
                n += chunk.count(b"\n")
    except FileNotFoundError:
        pass
    return n


def flood(b, dest, seconds):
    """A connect() loop to `dest` from the container on CPU 0."""
    return b.nb.call("flood", ["--to", f"{dest}:{UDP_PORT}", "--seconds", seconds,
                               "--count", 50000000],
                     b.c0, b.sb.bench_cg, cpu=0, timeout=b.args.flood_seconds + 30)


def wait_drained(path, limit=60):
    """When the sink stopped growing (0.5 s without a write; bounded)."""
    last_size, last_change = -1, time.monotonic()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        size = os.path.getsize(path)
        if size != last_size:
            last_size, last_change = size, time.monotonic()
        elif time.monotonic() - last_change > 0.5:
            break
        time.sleep(0.02)
    return last_change


def denied(status):
    return status["counters"]["verdicts"].get("cgroup/connect4", {}).get("deny", 0)


def run_events(b):
    a = b.args
    agent = b.agents.start(palisade_policies(10), extra=NO_RATE_LIMIT, cpu=1)
    try:
        time.sleep(0.3)
        # The same connect() loop to an allowed destination: no event, so the
        # difference is what reporting an event costs the caller.
        allowed = flood(b, BRIDGE_IP, min(a.flood_seconds, 1.5))
        new_events(agent)
        offset = os.path.getsize(agent["events"])
        st0 = b.agents.status(agent)
        cpu0 = proc_cpu_seconds(agent["pid"])
        t_start = time.monotonic()
        denied_flood = flood(b, DENIED_IP, a.flood_seconds)
        t_flood_end = time.monotonic()
        drained = wait_drained(agent["events"])
        cpu = proc_cpu_seconds(agent["pid"]) - cpu0
        st1 = b.agents.status(agent)
    finally:
        b.agents.stop(agent)
    res = summarize_events(denied_flood, allowed, st0, st1, count_lines(agent["events"], offset),
                           drained - t_start, t_flood_end - t_start, cpu)
    log(f"  events: {res['generated']} generated, {res['delivered']} written, "
        f"{res['ringbuf_drops']} ring buffer drops; {res['events_per_s_wall'] or 0:.0f}/s wall, "
        f"{res['events_per_cpu_s'] or 0:.0f}/s per agent CPU second")
    b.data["events"] = res


def summarize_events(flood_res, allowed, st0, st1, delivered, wall, flood_s, cpu):
    generated = denied(st1) - denied(st0)
    drops = st1["counters"]["ringbufDrops"] - st0["counters"]["ringbufDrops"]
    return {
        "flood": flood_res, "allowed_loop": allowed,
        "ns_per_denied_connect": 1e9 / flood_res["rate"] if flood_res["rate"] else None,
        "ns_per_allowed_connect": 1e9 / allowed["rate"] if allowed["rate"] else None,
        "generated": generated, "delivered": delivered, "ringbuf_drops": drops,
        "lost_unaccounted": generated - delivered - drops,
        "wall_s": wall, "flood_s": flood_s, "agent_cpu_s": cpu,
        "events_per_s_wall": delivered / wall if wall > 0 else None,
        "events_per_cpu_s": delivered / cpu if cpu else None,
    }
