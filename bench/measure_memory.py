"""The agent's memory, start-up time and idle CPU with 1,000 docker-style
containers and 10,000 rules, and the floor: one container, 10 rules."""

import hashlib
import json
import time

from common import log, run
from configs import filler, palisade_policies, policy_yaml
from proc import cpu_share, proc_status_kb, rss_breakdown
from sandbox import BRIDGE_IP, describe


def fake_containers(b, count, tag="mem", name="svc"):
    """`count` empty container cgroups with metadata (<name>-0000...: at least four
    digits) under a cgroup root of their own, <tag>; returns (cgroup root, docker root)."""
    root = b.sb.mkcg(tag)
    docker = f"{b.sb.work}/docker-{tag}"
    digits = max(4, len(str(count - 1)))
    for i in range(count):
        cid = hashlib.sha256(f"{tag}-{b.sb.pid}-{i}".encode()).hexdigest()
        b.sb.mkcg(f"{tag}/system.slice/docker-{cid}.scope")
        describe(docker, cid, f"{name}-{i:0{digits}d}")
    return root, docker


def ten_policies(rules):
    """10 policies of rules/10 CIDRs, each selecting a tenth of the containers."""
    per = rules // 10
    return {f"svc-{d}.yaml": policy_yaml(f"svc-{d}", f"svc-*{d}",
                                         [filler(d * per + j) for j in range(per)], [BRIDGE_IP])
            for d in range(10)}


def measure_agent(b, policies, mem_root, docker):
    agent = b.agents.start(policies, cgroup_root=mem_root, docker_root=docker)
    pid = agent["pid"]
    rss_ready = proc_status_kb(pid, "VmRSS")
    time.sleep(1)
    idle = cpu_share(pid, b.args.idle_seconds)
    st = b.agents.status(agent)
    rec = {"ready_ms": agent["ready_ms"], "containers_at_ready": agent["containers"],
           "containers": len(st.get("containers", [])),
           "rss_ready_kb": rss_ready,
           "rss_kb": proc_status_kb(pid, "VmRSS"),
           "hwm_kb": proc_status_kb(pid, "VmHWM"),
           "rss_by_kind_kb": rss_breakdown(pid),
           "idle_cpu_share": idle,
           "lpm4_memlock": map_memlock(agent["state"], "pal_lpm4")}
    b.agents.stop(agent)
    log(f"  {rec['containers']} containers, {b.args.mem_rules} rules: ready in "
        f"{rec['ready_ms']:.0f} ms, RSS {rec['rss_kb'] / 1024:.1f} MiB "
        f"(peak {rec['hwm_kb'] / 1024:.1f} MiB), idle CPU {100 * idle:.1f}%")
    return rec


def measure_minimal(b):
    agent = b.agents.start(palisade_policies(10))
    rec = {"ready_ms": agent["ready_ms"], "rss_kb": proc_status_kb(agent["pid"], "VmRSS"),
           "rss_by_kind_kb": rss_breakdown(agent["pid"])}
    b.agents.stop(agent)
    return rec


def run_memory(b):
    a = b.args
    mem_root, docker = fake_containers(b, a.mem_containers)
    policies = ten_policies(a.mem_rules)
    runs = [measure_agent(b, policies, mem_root, docker) for _ in range(a.mem_reps)]
    minimal = [measure_minimal(b) for _ in range(a.mem_reps)]
    b.sb.remove_cgroup(mem_root)
    b.data["memory"] = {"containers": a.mem_containers, "rules": a.mem_rules,
                        "runs": runs, "minimal": minimal}


def map_memlock(state, name):
    """The kernel memory (bytes) charged for the agent's map `name`; None if not pinned."""
    r = run(["bpftool", "-j", "map", "show", "pinned", f"{state}/maps/{name}"], check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout).get("bytes_memlock")
