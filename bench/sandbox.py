"""The bench's sandbox: network namespaces and a cgroup subtree of its own,
removed again on exit (also on failure or Ctrl-C) by a Cleanup stack.

  cgroup   <cgroup2 mount>/palisade-bench-<pid>/
             plain/                       clients of the no-filter, iptables
                                          and nftables configurations
             pal/                         cgroupRoot of the palisade agents
               system.slice/docker-<id>.scope     the "bench" container
             mem/system.slice/docker-<id>.scope   1,000 fake containers
  netns    palb-<pid>-br    the outside: br0 198.18.0.1/24, the listeners
           palb-<pid>-c<i>  containers: eth0 198.18.0.(10+i)/24 on br0

Why this exists beside tests/harness (C++, the same world): the harness is
built for GoogleTest (RAII per test, functions run in forks of the test
process); the bench keeps one sandbox for minutes around other programs
(agents, netbench, iperf3, iptables-restore) that a Python driver starts,
times and parses. These two stay; scripts/demo.sh's bash copy is the one to
retire (bench/README.md says why and how).
"""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from common import BenchError, die_with_parent, log, run, stop_process

BRIDGE_IP = "198.18.0.1"
MAX_CONTAINERS = 41  # 198.18.0.10 .. 198.18.0.50


class Cleanup:
    """Undo actions, run last-in first-out; a failing one does not stop the rest."""

    def __init__(self):
        self.actions = []

    def push(self, name, fn):
        self.actions.append((name, fn))

    def run(self):
        while self.actions:
            name, fn = self.actions.pop()
            try:
                fn()
            except Exception as e:  # keep cleaning up
                log(f"cleanup {name}: {e}")


def cgroup2_mount():
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            return left.split()[4]
    raise BenchError("no cgroup2 mount in /proc/self/mountinfo")


def describe(docker_root, cid, name):
    """Docker-style metadata for container `cid`, as the agent reads it."""
    d = Path(docker_root) / "containers" / cid
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.v2.json").write_text(
        json.dumps({"ID": cid, "Name": "/" + name, "Config": {"Labels": {"bench": name}}})
    )


class Sandbox:
    def __init__(self, cleanup, work):
        self.cleanup = cleanup
        self.pid = os.getpid()
        self.work = work
        self.tag = f"palb-{self.pid}"
        self.tree = f"{cgroup2_mount()}/palisade-bench-{self.pid}"
        os.mkdir(self.tree)
        cleanup.push("cgroup tree", lambda: self.remove_cgroup(self.tree))
        self.plain_cg = self.mkcg("plain")
        self.pal_root = self.mkcg("pal")
        self.container_id = hashlib.sha256(f"bench-{self.pid}".encode()).hexdigest()
        self.bench_cg = self.mkcg(f"pal/system.slice/docker-{self.container_id}.scope")
        self.docker_root = f"{work}/docker"
        describe(self.docker_root, self.container_id, "bench")
        self.bridge = self.add_bridge()
        self.next_index = 0

    # cgroups ---------------------------------------------------------------
    def mkcg(self, rel):
        path = f"{self.tree}/{rel}"
        os.makedirs(path, exist_ok=True)
        return path

    def remove_cgroup(self, top):
        """Removes `top` and everything below it, deepest first, killing (by
        PID) what is still in it."""
        if not top.startswith(self.tree):
            raise BenchError(f"refusing to remove {top}: not in {self.tree}")
        dirs = [top]
        for root, subdirs, _ in os.walk(top):
            dirs.extend(os.path.join(root, s) for s in subdirs)
        for d in sorted(dirs, key=lambda p: p.count("/"), reverse=True):
            _empty_and_remove(d)

    # network namespaces ----------------------------------------------------
    def ip(self, ns, *args):
        run(["ip", "-n", ns, *args])

    def add_netns(self, suffix):
        name = f"{self.tag}-{suffix}"
        run(["ip", "netns", "add", name])
        self.cleanup.push(f"netns {name}", lambda: run(["ip", "netns", "del", name], check=False))
        self.ip(name, "link", "set", "lo", "up")
        # IPv4 only: no router solicitations or DAD traffic in the way.
        for scope in ("all", "default"):
            run(["ip", "netns", "exec", name, "sysctl", "-qw",
                 f"net.ipv6.conf.{scope}.disable_ipv6=1"], check=False)
        return name

    def add_bridge(self):
        ns = self.add_netns("br")
        self.ip(ns, "link", "add", "br0", "type", "bridge")
        self.ip(ns, "link", "set", "br0", "up")
        self.ip(ns, "addr", "add", f"{BRIDGE_IP}/24", "dev", "br0")
        return ns

    def add_container_netns(self):
        i = self.next_index
        self.next_index += 1
        if i >= MAX_CONTAINERS:
            raise BenchError("too many container namespaces")
        ns = self.add_netns(f"c{i}")
        self.ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{i}",
                "netns", self.bridge)
        self.ip(self.bridge, "link", "set", f"v{i}", "master", "br0", "up")
        self.ip(ns, "link", "set", "eth0", "up")
        self.ip(ns, "addr", "add", f"198.18.0.{10 + i}/24", "dev", "eth0")
        self.ip(ns, "route", "add", "default", "via", BRIDGE_IP, "dev", "eth0")
        return ns

    # processes ---------------------------------------------------------------
    def spawn(self, argv, name, stdout=subprocess.PIPE, stderr=None):
        p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                             text=True, preexec_fn=die_with_parent)
        self.cleanup.push(name, lambda: stop_process(p))
        return p


def _empty_and_remove(d):
    """rmdir of one cgroup, retried for ~2 s while its processes die."""
    for _ in range(100):
        try:
            for pid in Path(d, "cgroup.procs").read_text().split():
                if int(pid) != os.getpid():
                    os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
