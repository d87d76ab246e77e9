"""palisade agents under the bench and the demo: each gets a directory of its
own in the work directory (configuration, policies.d, control socket, event
file) and pins under /sys/fs/bpf/palisade-<bench|demo>-<pid>-<n>; it is
started until its agent-ready event and removed with `palisade cleanup` when
it stops."""

import calendar
import json
import os
import subprocess
import time
from pathlib import Path

from common import BenchError, die_with_parent, log, run, stop_process

AGENT_CONFIG = """\
cgroupRoot: {cgroup_root}
policyDir: {d}/policies.d
stateDir: {state}
controlSocket: {d}/palisade.sock
runtimes:
  dockerRoot: {docker_root}
  containerdState: {d}/containerd
  crioStorage: {d}/crio
  podmanRoot: {d}/podman
defaults:
  unmatched: allow
metrics: {{listen: ""}}
events:
  sinks:
    - {{type: file, path: {d}/events.jsonl, maxSizeMB: 100000, maxFiles: 1}}
"""


def ts_ns(text):
    """'2026-11-23T10:12:31.504316818Z' -> ns since the epoch."""
    text = text.rstrip("Z")
    date, _, frac = text.partition(".")
    secs = calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%S"))
    return secs * 10**9 + int((frac + "000000000")[:9])


def action_of(event):
    return event.get("event", {}).get("action")


class Agents:
    def __init__(self, palisade, sandbox, netbench, results, config=AGENT_CONFIG):
        """config: the configuration's template ({cgroup_root}, {d}, {state},
        {docker_root}); results: where agent-<n>.log goes."""
        self.palisade = palisade
        self.sb = sandbox
        self.nb = netbench
        self.results = results
        self.config = config
        self.seq = 0

    def start(self, policies, cgroup_root=None, docker_root=None, extra="", cpu=None,
              timeout=120):
        """Starts `palisade run` with `policies` {file name: yaml} (on `cpu` if
        given); returns the agent once its agent-ready event is written."""
        return self.launch(self.prepare(policies, cgroup_root, docker_root, extra), cpu, timeout)

    def launch(self, agent, cpu=None, timeout=120):
        """start() of an agent prepare() made."""
        agent["proc"], t_spawn = self.spawn(agent, cpu)
        self.sb.cleanup.push(f"agent {agent['n']}", lambda: self.stop(agent))
        ready = wait_event(agent, lambda e: action_of(e) == "agent-ready", timeout)
        if ready is None:
            stop_process(agent["proc"])
            raise BenchError(f"agent {agent['n']}: no agent-ready within {timeout}s; see "
                             f"{self.results}/agent-{agent['n']}.log")
        info = ready.get("palisade", {})
        agent["ready_ms"] = (ts_ns(ready["@timestamp"]) - t_spawn) / 1e6
        agent["programs"] = {prog["name"]: prog["id"] for prog in info.get("programs", [])}
        agent["generation"] = info.get("generation")
        agent["containers"] = info.get("containers")
        agent["pid"] = agent["proc"].pid
        return agent

    def prepare(self, policies, cgroup_root, docker_root, extra):
        """The agent's directory: its policies and configuration."""
        self.seq += 1
        n = self.seq
        d = Path(self.sb.work) / f"agent-{n}"
        (d / "policies.d").mkdir(parents=True)
        for name, text in policies.items():
            (d / "policies.d" / name).write_text(text)
        state = f"/sys/fs/bpf/palisade-{self.sb.name}-{self.sb.pid}-{n}"
        cfg = d / "palisade.yaml"
        cfg.write_text(self.config.format(
            cgroup_root=cgroup_root or self.sb.pal_root, d=d, state=state,
            docker_root=docker_root or self.sb.docker_root) + extra)
        return {"n": n, "dir": d, "config": str(cfg), "state": state,
                "events": d / "events.jsonl", "offset": 0}

    def spawn(self, agent, cpu):
        """The agent process (stderr to results/agent-<n>.log) and when it started."""
        argv = [self.palisade, "run", "--config", agent["config"]]
        if cpu is not None:
            argv = self.nb.argv("exec", ["--", *argv], cpu=cpu)
        with open(self.results / f"agent-{agent['n']}.log", "w") as stderr:
            t_spawn = time.time_ns()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr,
                                 stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        return p, t_spawn

    def stop(self, agent):
        if agent.get("stopped"):
            return
        agent["stopped"] = True
        stop_process(agent["proc"], wait=10)
        run([self.palisade, "cleanup", "--config", agent["config"]], check=False, timeout=60)
        if os.path.exists(agent["state"]):
            log(f"warning: {agent['state']} still exists after palisade cleanup")

    def status(self, agent):
        r = run([self.palisade, "status", "--json", "--config", agent["config"]], timeout=30)
        return json.loads(r.stdout)


def new_events(agent):
    """The events the agent wrote since the last call (whole lines only)."""
    try:
        with open(agent["events"], "rb") as f:
            f.seek(agent["offset"])
            data = f.read()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n")
    if end < 0:
        return []
    agent["offset"] += end + 1
    out = []
    for line in data[: end + 1].splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_event(agent, pred, timeout):
    """The first new event for which pred holds; None at the timeout or when
    the agent exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in new_events(agent):
            if pred(e):
                return e
        if agent["proc"].poll() is not None:
            return None
        time.sleep(0.002)
    return None
