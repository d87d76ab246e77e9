"""Container start → policy in force with real docker and podman
(palisade-runtime-bench, bench/runtime_start_bench.cpp): each runtime started with
state of its own, in a sandbox of its own, and removed with everything it made."""

import json

from common import log, run


def run_runtimes(b):
    exe = b.args.build / "bench" / "palisade-runtime-bench"
    data = json.loads(run([str(exe), "--starts", str(b.args.runtime_starts)],
                          timeout=3600).stdout)
    for name, d in data.items():
        ms = sorted(d["ms"])
        log(f"  {name}: {len(ms)} of {d['starts']} starts measured"
            + (f", cgroup → in force median {ms[len(ms) // 2]:.2f} ms" if ms else ""))
    b.data["runtimes"] = data
