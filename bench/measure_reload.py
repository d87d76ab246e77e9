"""Reload: from a policy file landing in policyDir to the new verdicts in
force, watched by a probe in the container, per policy size and trigger
(the agent noticing the file itself, or SIGHUP as well)."""

import json
import os
import signal
import time

from agent import action_of, new_events, ts_ns, wait_event
from common import BenchError, log, stop_process
from configs import DENIED_IP, FLIP_IP, palisade_policies
from netbench import UDP_PORT
from proc import cpu_share
from sandbox import BRIDGE_IP


def run_reload(b):
    out = []
    for k in b.args.reload_sizes:
        agent = b.agents.start(palisade_policies(k, flip=False))
        idle = cpu_share(agent["pid"], b.args.idle_seconds)
        flip = False
        for _ in range(b.args.reload_reps):
            for trigger in b.args.reload_triggers:
                flip = not flip
                r = reload_once(b, agent, k, flip, trigger)
                r["agent_idle_cpu_share"] = idle
                out.append(r)
                log(f"  reload {k:>6} CIDRs ({trigger:>6}): in force after "
                    f"{r['verdict_ms'] if r['verdict_ms'] is not None else '-'} ms "
                    f"(event {r['event_ms'] if r['event_ms'] is not None else '-'} ms), "
                    f"wrong verdicts {r['wrong']}")
        b.agents.stop(agent)
    b.data["reload"] = out


def reload_once(b, agent, k, flip, trigger):
    policy_dir = agent["dir"] / "policies.d"
    # Staged beside policyDir (same file system, so the rename is atomic):
    # the agent sees one change, the file landing whole.
    staged = policy_dir.parent / "bench.yaml.staged"
    staged.write_text(palisade_policies(k, flip=flip)["bench.yaml"])
    new_events(agent)  # skip what came before
    first, t_land, res = land_under_probe(b, agent, staged, policy_dir / "bench.yaml", trigger)
    applied = wait_event(agent, lambda e: action_of(e) == "policy-applied", 5)
    return {
        "cidrs": k, "trigger": trigger, "flip_to": "allow" if flip else "deny",
        # Before the reload the changed destination is refused (EPERM = 1) when
        # the new file allows it, and allowed (0) when the new file refuses it.
        "initial_ok": int(first[1]) == (1 if flip else 0),
        "verdict_ms": (res["flipped_at_ns"] - t_land) / 1e6 if res["flipped_at_ns"] else None,
        "event_ms": (ts_ns(applied["@timestamp"]) - t_land) / 1e6 if applied else None,
        "wrong": res["wrong_allow"] + res["wrong_deny"] + res["flaps"],
        "probes": res["iterations"],
    }


def land_under_probe(b, agent, staged, target, trigger):
    """Renames `staged` to `target` once the probe runs (then SIGHUP for that
    trigger); returns the probe's first line, when the file landed (ns) and
    the probe's result."""
    probe = b.nb.popen("probe", ["--allow", f"{BRIDGE_IP}:{UDP_PORT}",
                                 "--deny", f"{DENIED_IP}:{UDP_PORT}",
                                 "--flip", f"{FLIP_IP}:{UDP_PORT}",
                                 "--seconds", b.args.reload_timeout, "--interval-us", 50,
                                 "--after-ms", 300],
                       netns=b.c0, cgroup=b.sb.bench_cg, cpu=0)
    try:
        first = probe.stdout.readline().split()
        if not first or first[0] != "ready":
            raise BenchError("the reload probe did not start")
        t_land = time.time_ns()
        os.rename(staged, target)
        if trigger == "sighup":
            os.kill(agent["pid"], signal.SIGHUP)
        out_text, _ = probe.communicate(timeout=b.args.reload_timeout + 15)
    finally:
        stop_process(probe)
    return first, t_land, json.loads(out_text.strip().splitlines()[-1])
