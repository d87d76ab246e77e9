#!/usr/bin/env python3
"""The palisade demo (scripts/demo.sh installs, builds, then runs this as root):
the agent enforcing on two sandboxed "containers" (network namespaces +
docker-style cgroups in a cgroup subtree of their own), and what it decided.

The sandbox is the bench's (bench/sandbox.py), the agent is started and
stopped by bench/agent.py. Only 198.18.0.0/15 and fd00::/8 addresses, only
namespaces, cgroups and pins this script creates, all removed on exit (also
on failure or Ctrl-C) by the sandbox's cleanup stack.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from agent import Agents, action_of  # noqa: E402
from common import BenchError  # noqa: E402
from sandbox import Sandbox, with_cleanup  # noqa: E402

POLICY = """\
# api may reach its external API over HTTPS and the database on 5432, nothing
# else; db has no egress (so it cannot open a connection to api either).
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: "api"}
  egress:
    - toCIDR: ["198.19.0.10/32"]
      ports: [{port: 443, protocol: TCP}]
    - toContainers: {name: "db"}
      ports: [{port: 5432, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db}
spec:
  selector: {name: "db"}
  egress: []
"""

CONFIG = """\
cgroupRoot: {cgroup_root}
policyDir: {d}/policies.d
stateDir: {state}
controlSocket: {d}/palisade.sock
runtimes: {{dockerRoot: {docker_root}}}
events:
  sinks: [{{type: file, path: {d}/events.jsonl}}]
"""

# A TCP server on 443 (IPv4 and IPv6) in the outside world, the database on
# 5432 and the api's own service on 8080 in their containers (a process in
# each, so the agent knows both containers' addresses from its start on). They
# end by themselves after 60 s without a client.
SERVER = """
import signal, socket, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the demo stops it
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", port)); s.listen(64)
s.settimeout(60)
print("ready", flush=True)
try:
    while True: s.accept()[0].close()
except Exception: pass
"""

PROBE = """
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam); s.settimeout(3)
try:
    s.connect((addr, port)); print("connected")
except OSError as e:
    print(e.strerror)
"""

# (container, address, port): what the containers try.
TRIES = (
    ("api", "198.19.0.10", 443),         # the allowed external API
    ("api", "198.19.0.66", 443),         # any other host
    ("api", "::ffff:198.19.0.66", 443),  # the same host through an IPv4-mapped IPv6 address
    ("api", "::ffff:198.19.0.10", 443),  # ... judged as the IPv4 address it carries
    ("api", "fd00:19::66", 443),         # plain IPv6: the policy has no IPv6 CIDR
    ("db", "198.19.0.10", 443),          # the database has no egress at all
    ("api", "198.18.0.12", 5432),        # api -> db on the port its toContainers rule names
    ("api", "198.18.0.12", 22),          # ... on any other port
    ("db", "198.18.0.11", 5432),         # db -> api: no rule of db's names api
)
NOT_SHOWN = ("policy-applied", "agent-ready", "container-started")


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def start_server(sb, argv, name, container=None):
    spawn = (lambda: sb.spawn_in(container, argv, name)) if container else \
        (lambda: sb.spawn(["ip", "netns", "exec", sb.bridge, *argv], name))
    p = spawn()
    if p.stdout.readline().strip() != "ready":  # ends when the server exits
        raise BenchError(f"the {name} did not start")


def show_events(path):
    last = None
    for line in Path(path).read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:  # a line still being written
            continue
        if action_of(e) in NOT_SHOWN:
            continue
        p, d = e["palisade"], e.get("destination", {})
        orig = " (from %s)" % p["original_destination"] if "original_destination" in p else ""
        peer = " (container %s)" % d["container"]["name"] if "container" in d else ""
        print("  %-7s %-16s %-17s %s:%s%s%s  container=%s pid=%s" % (
            p["verdict"], p["reason"], p["mechanism"], d.get("ip"), d.get("port"), orig, peer,
            e["container"]["name"], e["process"]["pid"]))
        last = line
    if last:
        print("\n  one event in full:\n  " + last.strip())


def demo(palisade, cleanup, work):
    # The outside world (bridge 198.18.0.1, fd00:18::1) with an external API
    # at 198.19.0.10 / fd00:19::10 and some other host at 198.19.0.66 / fd00:19::66.
    sb = Sandbox(cleanup, work, name="demo", ipv6=True)
    for addr in ("198.19.0.10/32", "198.19.0.66/32", "fd00:19::10/128", "fd00:19::66/128"):
        sb.add_outside_address(addr)
    # api at 198.18.0.11 / fd00:18::11, db at 198.18.0.12 / fd00:18::12.
    containers = {name: sb.add_container(name, i, {"tier": name})
                  for i, name in ((1, "api"), (2, "db"))}
    start_server(sb, ["python3", "-c", SERVER, "443"], "outside server")
    start_server(sb, ["python3", "-c", SERVER, "5432"], "database", containers["db"])
    start_server(sb, ["python3", "-c", SERVER, "8080"], "api service", containers["api"])

    agents = Agents(palisade, sb, None, Path(work), config=CONFIG)
    agent = agents.prepare({"demo.yaml": POLICY}, sb.tree, None, "")
    say("policy (palisade policy check)")
    print(POLICY, end="", flush=True)
    subprocess.run([palisade, "policy", "check", str(agent["dir"] / "policies.d")], check=True,
                   timeout=60)

    say(f"starting: palisade run --config {agent['config']}")
    try:
        agents.launch(agent, timeout=10)
    finally:
        log = Path(work) / "agent-1.log"
        print(log.read_text() if log.exists() else "", end="", flush=True)

    say("what the containers try")
    for name, addr, port in TRIES:
        r = sb.run_in(containers[name], ["python3", "-c", PROBE, addr, str(port)])
        print(f"  {name:<4} -> {addr:<22} {port:<5} : {r.stdout.strip()}", flush=True)

    time.sleep(0.3)
    say("events (JSON lines, docs/reference/events-and-metrics.md)")
    show_events(agent["events"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--palisade", default=str(REPO / "build" / "palisade"),
                   help="the palisade binary (default: build/palisade)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("demo.py needs root (network namespaces, cgroups, BPF programs): "
                 "run scripts/demo.sh")
    with_cleanup("palisade-demo", lambda cleanup, work: demo(args.palisade, cleanup, work))


if __name__ == "__main__":
    try:
        main()
    except (BenchError, subprocess.SubprocessError) as e:
        print(f"demo: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:
        print(f"demo: interrupted ({e}); everything it made is removed", file=sys.stderr)
        sys.exit(130)
