#!/usr/bin/python3
# (Debian's interpreter: python3-matplotlib, which draws the plot, is installed for it.)
"""palisade benchmarks: the targets of docs/reference/targets.md, measured side by side with no
filter, iptables and nftables. Run as root (or with sudo): `bench/run.sh [--quick]`
(which builds first), or `sudo bench/run.py` against an existing build.

Everything it makes (namespaces, cgroups, agents' pins, a temporary work
directory; see sandbox.py and agent.py) is removed on exit, also on failure
or Ctrl-C. Traffic only ever goes to 198.18.0.0/24 inside its own
namespaces. Results go to bench/results/<time>/ and, unless --quick or
--no-write-docs, to docs/benchmarks.md and .png. bench/README.md says which
module does what.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import configs
from agent import Agents
from common import T0, BenchError, log
from machine import REPO, machine_info
from measure_events import run_events
from measure_iperf import run_iperf
from measure_memory import run_memory
from measure_rates import run_bpf_stats, run_rounds
from measure_reload import run_reload
from measure_runtimes import run_runtimes
from measure_scale import run_scale
from netbench import Netbench
from plot import write_plot
from report import publish, write_report
from sandbox import Sandbox, with_cleanup

RULE_COUNTS = [10, 1000, 10000, 100000]
RELOAD_SIZES = [10, 10000, 100000]
# The parts of a run, in order: (name, what the log says, the measurement).
PARTS = (
    ("rounds", "connect() and sendto() rounds", run_rounds),
    ("bpf", "BPF run time per program (BPF_ENABLE_STATS)", run_bpf_stats),
    ("iperf", "iperf3: packet-level hook on vs off", run_iperf),
    ("reload", "reload latency", run_reload),
    ("events", "event pipeline", run_events),
    ("memory", "memory and start-up with {mem_containers} containers", run_memory),
    ("runtimes", "container start → in force, real docker and podman ({runtime_starts} starts "
     "each)", run_runtimes),
    ("scale", "node scale: {scale_containers} containers in {scale_sets} policy sets sharing "
     "{scale_cidrs} CIDRs", run_scale),
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short blocks and fewer rounds (~1.5 min)")
    p.add_argument("--build", type=Path, default=REPO / "build-bench",
                   help="build directory with palisade and bench/palisade-netbench")
    p.add_argument("--rounds", type=int)
    p.add_argument("--rules", type=int, nargs="+", help=f"rule counts (default {RULE_COUNTS})")
    p.add_argument("--mechanisms", nargs="+", default=["palisade", "iptables", "nftables"],
                   choices=["palisade", "iptables", "nftables"])
    p.add_argument("--iptables", choices=["legacy", "nft"], default="legacy",
                   help="iptables backend for the linear chain (default legacy: xtables)")
    p.add_argument("--only", nargs="+", choices=[name for name, _, _ in PARTS],
                   help="run only these parts")
    p.add_argument("--write-docs", action=argparse.BooleanOptionalAction, default=None,
                   help="copy the report and plot to docs/ (default: yes unless --quick)")
    p.add_argument("--report-from", type=Path, metavar="RESULTS_DIR",
                   help="measure nothing: write the report and plot again from RESULTS_DIR/raw.json")
    return with_settings(p.parse_args())


def with_settings(a):
    """The settings that follow from --quick (and the defaults of the rest)."""
    q = a.quick
    a.rounds = a.rounds or (2 if q else 5)
    a.rules = a.rules or RULE_COUNTS
    # Seconds per placement of an alternating run (and per block of a block pair).
    a.tcp_seconds = 0.4 if q else 1.2
    a.udp_seconds = 0.3 if q else 0.8
    a.slice_ms = 50
    a.tcp_warmup = 100 if q else 300
    a.udp_warmup = 1000 if q else 5000
    a.iperf_rounds = 2 if q else 5
    a.iperf_seconds = 1 if q else 3
    a.reload_sizes = list(RELOAD_SIZES)
    a.reload_reps = 1 if q else 3
    a.bpf_stats_blocks = 1 if q else 3
    a.reload_triggers = ["file", "sighup"]
    a.reload_timeout = 5
    # Long enough to include one of the agent's periodic resyncs (every 10 s).
    a.idle_seconds = 1 if q else 11
    a.flood_seconds = 1.5 if q else 4
    a.mem_containers = 1000
    a.mem_rules = 10000
    a.mem_reps = 1 if q else 3
    a.runtime_starts = 20 if q else 200
    a.scale_containers = 10000
    a.scale_sets = 1000
    a.scale_cidrs = 100000
    a.scale_reps = 1 if q else 2
    if a.write_docs is None:
        a.write_docs = not q
    a.parts = a.only or [name for name, _, _ in PARTS]
    return a


def preflight(args):
    if os.geteuid() != 0:
        raise BenchError("run as root (sudo bench/run.sh)")
    for exe in (args.build / "palisade", args.build / "bench" / "palisade-netbench",
                args.build / "bench" / "palisade-hook-floor"):
        if not os.access(exe, os.X_OK):
            raise BenchError(f"{exe} missing: build first (bench/run.sh does)")
    tools = ["ip", "nft", f"iptables-{args.iptables}-restore", "iperf3", "bpftool", "ss"]
    if "runtimes" in args.parts:
        tools += ["dockerd", "podman", "runc"]
    for tool in tools:
        if not shutil.which(tool):
            raise BenchError(f"{tool} not found (scripts/install-deps.sh installs it)")


class Bench:
    """What the measurements share: the settings, the sandbox with its
    servers and configurations, the tools, and what has been measured."""

    def __init__(self, args, sandbox, results):
        self.args = args
        self.sb = sandbox
        self.results = results
        self.nb = Netbench(str(args.build / "bench" / "palisade-netbench"), sandbox)
        self.floor_exe = str(args.build / "bench" / "palisade-hook-floor")
        self.agents = Agents(str(args.build / "palisade"), sandbox, self.nb, results)
        self.data = {}
        self.load = []
        self.blocks_file = open(results / "blocks.jsonl", "w")
        self.note_load("start")
        self.nb.start_servers(lifetime=3600)
        self.c0, self.configs = configs.setup(args, sandbox)

    def note_load(self, phase):
        la = os.getloadavg()
        self.load.append({"phase": phase, "t": round(time.monotonic() - T0, 1),
                          "load1": la[0], "load5": la[1]})

    def record_block(self, config, test, rnd, result, **kind):
        """One block's result, as a line of results/blocks.jsonl."""
        rec = {"config": config["name"], "mech": config["mech"], "k": config["k"],
               "test": test, "round": rnd, **kind, **result}
        self.blocks_file.write(json.dumps(rec) + "\n")
        self.blocks_file.flush()
        return rec


def measure(args, results, cleanup, work):
    """Every part of the run args asks for; returns the raw data."""
    data = {"machine": machine_info(args)}
    log(f"results in {results}; load average {os.getloadavg()[0]:.2f}")
    b = Bench(args, Sandbox(cleanup, work), results)
    for name, title, part in PARTS:
        if name not in args.parts or (name == "bpf" and "palisade" not in args.mechanisms):
            continue
        log(title.format(**vars(args)))
        if name not in ("rounds", "bpf"):
            b.note_load(name)
        part(b)
    b.note_load("end")
    b.blocks_file.close()
    data.update(b.data)
    data["load"] = b.load
    data["configs"] = [{k: v for k, v in c.items() if k != "netns"} for c in b.configs]
    data["blocks_all"] = [json.loads(line) for line in open(results / "blocks.jsonl")]
    data["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    return data


def report(data, args, results, write_docs):
    text, summary = write_report(data, args, results)
    publish(text, write_plot(data, summary, results), write_docs)
    print(text)


def report_again(args):
    data = json.loads((args.report_from / "raw.json").read_text())
    saved = argparse.Namespace(**data["args"])
    report(data, saved, args.report_from, args.write_docs)


def main():
    args = parse_args()
    if args.report_from:
        return report_again(args)
    preflight(args)
    results = REPO / "bench" / "results" / (time.strftime("%Y%m%d-%H%M%S")
                                            + ("-quick" if args.quick else ""))
    results.mkdir(parents=True)
    data = with_cleanup("palisade-bench",
                        lambda cleanup, work: measure(args, results, cleanup, work))
    (results / "raw.json").write_text(json.dumps(data, indent=1, default=str))
    report(data, args, results, args.write_docs)
    log(f"done; results in {results}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:
        print(f"bench: interrupted ({e}); everything it made is removed", file=sys.stderr)
        sys.exit(130)
