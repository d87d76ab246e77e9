"""Node scale (issue 19): 10,000 docker-style containers in 1,000 distinct policy sets
that all share one 100,000-CIDR policy. The kernel memory of each map, the agent's RSS,
start to enforcement, a reload of the shared policy and of one small policy, and one
decision with those maps (palisade-decide-bench --sets)."""

import json
import os
import time

from agent import action_of, new_events, ts_ns, wait_event
from common import BenchError, log, run
from configs import filler, policy_yaml
from measure_memory import fake_containers, map_memlock
from proc import proc_status_kb
from sandbox import BRIDGE_IP

MAPS = ("pal_lpm4", "pal_hosts4", "pal_classes", "pal_cgroups", "pal_portsets", "pal_peers")


def scale_policies(shared, containers, sets, changed=None):
    """The shared policy (`shared` CIDRs, every container) and one small policy per set of
    containers/sets containers (app-000*, app-001*, ... for 10,000 in 1,000 sets), each
    with a CIDR of its own. `changed` names a file one of whose CIDRs is another (the
    reload)."""
    prefix_digits = max(4, len(str(containers - 1))) - len(str(containers // sets - 1))
    cidrs = [filler(i) for i in range(shared)]
    if changed == "shared.yaml":
        cidrs[-1] = filler(shared + sets)
    files = {"shared.yaml": policy_yaml("shared", "app-*", cidrs, [BRIDGE_IP])}
    for s in range(sets):
        own = filler(shared + sets + 1) if changed == f"set-{s}.yaml" else filler(shared + s)
        files[f"set-{s}.yaml"] = policy_yaml(f"set-{s}", f"app-{s:0{prefix_digits}d}*", [own],
                                             [BRIDGE_IP])
    return files


def reload_file(agent, files, name, timeout):
    """Rewrites policy file `name` (one CIDR changed) and returns the ms from its landing to
    the policy-applied event."""
    policy_dir = agent["dir"] / "policies.d"
    staged = policy_dir.parent / "scale.staged"
    staged.write_text(files[name])
    new_events(agent)
    t_land = time.time_ns()
    os.rename(staged, policy_dir / name)
    applied = wait_event(agent, lambda e: action_of(e) == "policy-applied", timeout)
    if applied is None:
        raise BenchError(f"reload of {name}: no policy-applied within {timeout}s")
    return (ts_ns(applied["@timestamp"]) - t_land) / 1e6


def run_scale(b):
    a = b.args
    sets, count = a.scale_sets, a.scale_containers
    root, docker = fake_containers(b, count, tag="scale", name="app")
    runs = []
    try:
        for rep in range(a.scale_reps):
            files = scale_policies(a.scale_cidrs, count, sets)
            agent = b.agents.start(files, cgroup_root=root, docker_root=docker, timeout=600)
            st = b.agents.status(agent)
            rec = {"ready_ms": agent["ready_ms"], "containers": len(st.get("containers", [])),
                   "rss_kb": proc_status_kb(agent["pid"], "VmRSS"),
                   "hwm_kb": proc_status_kb(agent["pid"], "VmHWM"),
                   "memlock": {m: map_memlock(agent["state"], m) for m in MAPS}}
            shared = scale_policies(a.scale_cidrs, count, sets, changed="shared.yaml")
            rec["reload_shared_ms"] = reload_file(agent, shared, "shared.yaml", 600)
            small = scale_policies(a.scale_cidrs, count, sets, changed="set-7.yaml")
            rec["reload_small_ms"] = reload_file(agent, small, "set-7.yaml", 600)
            rec["rss_after_reloads_kb"] = proc_status_kb(agent["pid"], "VmRSS")
            b.agents.stop(agent)
            runs.append(rec)
            mem = rec["memlock"]
            log(f"  {rec['containers']} containers, {sets} sets, {a.scale_cidrs} shared CIDRs: "
                f"ready in {rec['ready_ms']:.0f} ms, RSS {rec['rss_kb'] / 1024:.0f} MiB, "
                f"memlock lpm4+hosts4+classes "
                f"{sum(mem[m] or 0 for m in ('pal_lpm4', 'pal_hosts4', 'pal_classes')) >> 20} "
                f"MiB; reload shared {rec['reload_shared_ms']:.0f} ms, one small "
                f"{rec['reload_small_ms']:.0f} ms")
    finally:
        b.sb.remove_cgroup(root)
    decide = run([str(a.build / "bench" / "palisade-decide-bench"), "--cidrs",
                  str(a.scale_cidrs), "--sets", str(sets), "--repeat", "200000",
                  "--singles", "500" if a.quick else "3000"], timeout=600)
    b.data["scale"] = {"containers": count, "sets": sets, "cidrs": a.scale_cidrs,
                       "runs": runs,
                       "decide": json.loads(decide.stdout.splitlines()[0])}
    d = b.data["scale"]["decide"]
    log(f"  one decision, {sets} sets sharing {a.scale_cidrs} CIDRs: allow "
        f"{d['allow_warm_ns']:.0f} ns warm / {d['allow_single_ns']:.0f} ns single; "
        f"walked one class up {d['walk_warm_ns']:.0f} ns warm / {d['walk_single_ns']:.0f} ns "
        f"single, own narrow entry {d['narrow_warm_ns']:.0f} / {d['narrow_single_ns']:.0f} ns")
