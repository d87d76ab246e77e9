"""Driving palisade-netbench (netbench.cpp), the load generator: each run joins
the cgroup and network namespace it is given itself, pinned to a CPU."""

import json
import subprocess

from common import BenchError, die_with_parent, run

TCP_PORT = 7001
UDP_PORT = 7002


class Netbench:
    def __init__(self, exe, sandbox):
        self.exe = exe
        self.sb = sandbox

    def argv(self, sub, args, netns=None, cgroup=None, cpu=None):
        argv = [self.exe]
        if cgroup:
            argv += ["--cgroup", cgroup]
        if netns:
            argv += ["--netns", netns]
        if cpu is not None:
            argv += ["--cpu", str(cpu)]
        return argv + [sub] + [str(a) for a in args]

    def call(self, sub, args, netns=None, cgroup=None, cpu=None, timeout=60):
        """Runs one subcommand; returns the JSON object of its last line."""
        r = run(self.argv(sub, args, netns, cgroup, cpu), timeout=timeout)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def popen(self, sub, args, netns=None, cgroup=None, cpu=None):
        """Starts a subcommand whose output the caller reads as it comes."""
        return subprocess.Popen(self.argv(sub, args, netns, cgroup, cpu), stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, preexec_fn=die_with_parent)

    def start_servers(self, lifetime):
        """The TCP and UDP listeners on the bridge (CPU 1), for `lifetime` s."""
        for proto, port in (("tcp", TCP_PORT), ("udp", UDP_PORT)):
            p = self.sb.spawn(
                self.argv("serve", ["--proto", proto, "--port", port, "--bind", "0.0.0.0",
                                    "--seconds", lifetime], netns=self.sb.bridge, cpu=1),
                f"{proto} server")
            if p.stdout.readline().strip() != "ready":
                raise BenchError(f"the {proto} server did not start")

    def sendto(self, dest, netns, cgroup, count=16):
        """`count` UDP datagrams to `dest`, stopping at the first error."""
        return self.call("sendto", ["--to", f"{dest}:{UDP_PORT}", "--count", count,
                                    "--max-errors", 0], netns, cgroup)
