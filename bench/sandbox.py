"""The sandbox of the bench and of the demo (scripts/demo.py): network
namespaces and a cgroup subtree of its own, removed again on exit (also on
failure or Ctrl-C) by a Cleanup stack.

  cgroup   <cgroup2 mount>/palisade-bench-<pid>/
             plain/                       clients of the no-filter, iptables
                                          and nftables configurations
             pal/                         cgroupRoot of the palisade agents
               system.slice/docker-<id>.scope     the "bench" container
             mem/system.slice/docker-<id>.scope   1,000 fake containers
  netns    palb-<pid>-br    the outside: br0 198.18.0.1/24, the listeners
           palb-<pid>-c<i>  containers: eth0 198.18.0.(10+i)/24 on br0

The demo's (name "demo", ipv6=True): <cgroup2 mount>/palisade-demo-<pid>/
system.slice/docker-<id>.scope per container (add_container), netns
pald-<pid>-*, and IPv6 as well: br0 fd00:18::1/64, eth0 fd00:18::(10+i)/64,
extra addresses on the outside's lo (add_outside_address).

Why this exists beside tests/harness (C++, the same world): the harness is
built for GoogleTest (RAII per test, functions run in forks of the test
process); the bench and the demo keep one sandbox around other programs
(agents, netbench, iperf3, iptables-restore, probes) that a Python driver
starts, times and parses (bench/README.md says more).
"""

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import shutil
import time
from pathlib import Path

from common import BenchError, die_with_parent, log, run, stop_process

BRIDGE_IP = "198.18.0.1"
BRIDGE_IP6 = "fd00:18::1"
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


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def with_cleanup(prefix, body):
    """Runs body(cleanup, work) with a fresh work directory: everything pushed
    on the cleanup stack is undone when it returns, raises, or the process gets
    SIGINT, SIGTERM or SIGHUP. The bench and the demo both run this way."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    cleanup = Cleanup()
    work = tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-")
    cleanup.push("work dir", lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        return body(cleanup, work)
    finally:
        cleanup.run()


def cgroup2_mount():
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            return left.split()[4]
    raise BenchError("no cgroup2 mount in /proc/self/mountinfo")


def describe(docker_root, cid, name, labels=None):
    """Docker-style metadata for container `cid`, as the agent reads it."""
    d = Path(docker_root) / "containers" / cid
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.v2.json").write_text(json.dumps(
        {"ID": cid, "Name": "/" + name, "Config": {"Labels": labels or {"bench": name}}}))


def join_cgroup(cg):
    """A preexec_fn: the child moves itself into cgroup `cg` (so the sockets it
    opens belong to it) and dies with its parent."""
    def join():
        die_with_parent()
        with open(f"{cg}/cgroup.procs", "w") as f:
            f.write("0")
    return join


class Sandbox:
    def __init__(self, cleanup, work, name="bench", ipv6=False):
        """name "bench" also makes the bench's cgroups (plain/, pal/ and the
        "bench" container); ipv6 gives the bridge and containers fd00:18::/64
        addresses (otherwise IPv6 is off in every namespace)."""
        self.cleanup = cleanup
        self.pid = os.getpid()
        self.work = work
        self.name = name
        self.ipv6 = ipv6
        self.tag = f"pal{name[0]}-{self.pid}"
        self.tree = f"{cgroup2_mount()}/palisade-{name}-{self.pid}"
        os.mkdir(self.tree)
        cleanup.push("cgroup tree", lambda: self.remove_cgroup(self.tree))
        self.docker_root = f"{work}/docker"
        if name == "bench":
            self.plain_cg = self.mkcg("plain")
            self.pal_root = self.mkcg("pal")
            self.container_id = hashlib.sha256(f"bench-{self.pid}".encode()).hexdigest()
            self.bench_cg = self.mkcg(f"pal/system.slice/docker-{self.container_id}.scope")
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
        for scope in () if self.ipv6 else ("all", "default"):
            run(["ip", "netns", "exec", name, "sysctl", "-qw",
                 f"net.ipv6.conf.{scope}.disable_ipv6=1"], check=False)
        return name

    def add_addr(self, ns, dev, addr):
        """An address, usable at once (no DAD for IPv6)."""
        self.ip(ns, "addr", "add", addr, "dev", dev, *(["nodad"] if ":" in addr else []))

    def add_outside_address(self, addr):
        """Another host of the outside world: `addr` (/32 or /128) on its lo."""
        self.add_addr(self.bridge, "lo", addr)

    def add_bridge(self):
        ns = self.add_netns("br")
        self.ip(ns, "link", "add", "br0", "type", "bridge")
        self.ip(ns, "link", "set", "br0", "up")
        self.ip(ns, "addr", "add", f"{BRIDGE_IP}/24", "dev", "br0")
        if self.ipv6:
            self.add_addr(ns, "br0", f"{BRIDGE_IP6}/64")
        return ns

    def add_container_netns(self, index=None):
        """The namespace of container `index` (default: the next one): eth0
        198.18.0.(10+index) on the bridge."""
        i = self.next_index if index is None else index
        self.next_index = max(self.next_index, i + 1)
        if i >= MAX_CONTAINERS:
            raise BenchError("too many container namespaces")
        ns = self.add_netns(f"c{i}")
        self.ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{i}",
                "netns", self.bridge)
        self.ip(self.bridge, "link", "set", f"v{i}", "master", "br0", "up")
        self.ip(ns, "link", "set", "eth0", "up")
        self.ip(ns, "addr", "add", f"198.18.0.{10 + i}/24", "dev", "eth0")
        self.ip(ns, "route", "add", "default", "via", BRIDGE_IP, "dev", "eth0")
        if self.ipv6:
            self.add_addr(ns, "eth0", f"fd00:18::{10 + i}/64")
            self.ip(ns, "-6", "route", "add", "default", "via", BRIDGE_IP6, "dev", "eth0")
        return ns

    def add_container(self, name, index, labels=None):
        """A docker-style container: cgroup system.slice/docker-<id>.scope of
        the tree, its metadata under docker_root, and netns `index`."""
        cid = hashlib.sha256(f"{name}-{self.pid}".encode()).hexdigest()
        cg = self.mkcg(f"system.slice/docker-{cid}.scope")
        describe(self.docker_root, cid, name, labels)
        return {"name": name, "id": cid, "cg": cg, "ns": self.add_container_netns(index)}

    # processes ---------------------------------------------------------------
    def spawn(self, argv, name, stdout=subprocess.PIPE, stderr=None, preexec_fn=die_with_parent):
        p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                             text=True, preexec_fn=preexec_fn)
        self.cleanup.push(name, lambda: stop_process(p))
        return p

    def spawn_in(self, c, argv, name, **kw):
        """spawn() in container c: its cgroup first, then its netns."""
        return self.spawn(["ip", "netns", "exec", c["ns"], *argv], name,
                          preexec_fn=join_cgroup(c["cg"]), **kw)

    def run_in(self, c, argv, timeout=30):
        """Runs argv to its end in container c (cgroup, then netns), output captured."""
        return run(["ip", "netns", "exec", c["ns"], *argv], check=False, timeout=timeout,
                   preexec_fn=join_cgroup(c["cg"]))


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
