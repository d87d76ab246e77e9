#!/usr/bin/env python3
"""What `palisade oci-hook` adds to a container start (docs/runtimes/oci-hook.md,
the target of docs/reference/targets.md: < 20 ms median): `podman run --rm IMAGE
true` timed N times with podman's hooks directory empty and N times with the
shipped hook file in it, interleaved (one of each in turn, so that drift of the
machine falls on both), against one agent enforcing below a cgroup tree of its own.

    sudo bench/oci_hook.py --build build-hook [--starts 200]

Needs root, podman and runc. podman runs with storage, hooks directory and cgroup
parent of its own in the work directory (never the machine's), no network and the
cgroupfs manager; the image is busybox-static (`podman import`). Everything is
removed on exit, also on failure or Ctrl-C. Writes bench/results/<time>-oci-hook/
(raw.json, and report.md: the section of docs/benchmarks.md, which the next
bench/run.sh report carries over). Not part of bench/run.sh: it needs podman,
which the other parts do not.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent import Agents  # noqa: E402
from common import BenchError, log, run  # noqa: E402
from machine import machine_info  # noqa: E402
from report import Template, oci_hook_section  # noqa: E402
from sandbox import Sandbox, cgroup2_mount, with_cleanup  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/palisade-bench-hook:latest"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", type=Path, required=True, help="build directory with `palisade`")
    p.add_argument("--starts", type=int, default=200, help="starts with and without (200)")
    a = p.parse_args()
    a.build = a.build.resolve()
    return a


def percentile(values, q):
    """Nearest-rank percentile of `values` (q in 0..100)."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))]


class Podman:
    def __init__(self, work, storage, cgroup_parent):
        self.work = Path(work)
        self.storage = storage
        self.cgroup_parent = cgroup_parent
        self.no_hooks = self.work / "hooks-none"
        self.with_hook = self.work / "hooks-palisade"
        for d in (self.no_hooks, self.with_hook):
            d.mkdir()

    def argv(self, hooks, *args):
        w = self.work
        return ["podman", "--root", str(self.storage), "--runroot", f"{w}/podman-run",
                "--tmpdir", f"{w}/podman-tmp", "--cgroup-manager", "cgroupfs", "--runtime",
                "runc", "--events-backend", "file", "--storage-driver", "overlay",
                "--network-config-dir", f"{w}/podman-networks", "--volumepath",
                f"{w}/podman-volumes", "--hooks-dir", str(hooks), *args]

    def image(self):
        rootfs = self.work / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        os.symlink("busybox", rootfs / "bin" / "true")
        tar = self.work / "rootfs.tar"
        run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-C", str(rootfs), "-cf",
             str(tar), "."])
        run(self.argv(self.no_hooks, "import", str(tar), IMAGE), timeout=120)

    def start_ms(self, hooks):
        """One `podman run --rm IMAGE true`, its wall time in ms."""
        argv = self.argv(hooks, "run", "--rm", "--network", "none", "--cgroup-parent",
                         self.cgroup_parent, "--ulimit", "nofile=1024:1024", "--ulimit",
                         "nproc=4096:4096", IMAGE, "true")
        t = time.monotonic_ns()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        ms = (time.monotonic_ns() - t) / 1e6
        if r.returncode != 0:
            raise BenchError(f"podman run failed ({r.returncode}): {r.stdout.strip()}")
        return ms

    def remove(self):
        run(self.argv(self.no_hooks, "rm", "--all", "--force", "--time", "0"), check=False)
        run(self.argv(self.no_hooks, "rmi", "--all", "--force"), check=False)
        # What podman leaves mounted (its overlay) goes before the work directory.
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text()
                  .splitlines() if line.split()[4].startswith(str(self.work) + "/")]
        for m in sorted(mounts, key=len, reverse=True):
            run(["umount", "-l", m], check=False)


def remove_v1_dirs(relative):
    """runc also makes the tree's path in every cgroup v1 hierarchy of a hybrid host."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if " - cgroup " not in line:
            continue
        top = Path(line.split()[4] + relative)
        if top.is_dir():
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(str(p))):
                d.rmdir()
            top.rmdir()


def measure(args, cleanup, work):
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is missing")
    results = ROOT / "bench" / "results" / (time.strftime("%Y%m%d-%H%M%S") + "-oci-hook")
    results.mkdir(parents=True)
    palisade = str(args.build / "palisade")
    sb = Sandbox(cleanup, work, name="hook")
    agents = Agents(palisade, sb, None, results)
    agent = agents.prepare({}, sb.tree, None, "")
    tree = "/" + os.path.relpath(sb.tree, cgroup2_mount())
    cleanup.push("cgroup v1 dirs", lambda: remove_v1_dirs(tree))
    podman = Podman(work, Path(agent["dir"]) / "crio", tree + "/podman")
    cleanup.push("podman", podman.remove)
    podman.image()
    hook = json.loads((ROOT / "deploy/oci-hooks.d/palisade.json").read_text())
    hook["hook"]["path"] = palisade
    hook["hook"]["args"][3] = agent["config"]
    (podman.with_hook / "palisade.json").write_text(json.dumps(hook))
    agents.launch(agent)

    podman.start_ms(podman.no_hooks)  # the first start warms podman's caches
    podman.start_ms(podman.with_hook)
    without, with_hook = [], []
    for i in range(args.starts):
        without.append(podman.start_ms(podman.no_hooks))
        with_hook.append(podman.start_ms(podman.with_hook))
        if (i + 1) % 50 == 0:
            log(f"{i + 1}/{args.starts} starts each")
    # Every hooked start succeeded, so the hook confirmed each container in force
    # (ociHook.onTimeout is fail: anything else refuses the start, a BenchError).
    figures = {
        "starts": args.starts,
        "without": {"median": percentile(without, 50), "p99": percentile(without, 99)},
        "with": {"median": percentile(with_hook, 50), "p99": percentile(with_hook, 99)},
    }
    figures["added_median_ms"] = figures["with"]["median"] - figures["without"]["median"]
    figures["added_p99_ms"] = figures["with"]["p99"] - figures["without"]["p99"]
    machine = machine_info(argparse.Namespace(build=args.build))
    raw = {"machine": machine, "podman": run(["podman", "--version"]).stdout.split()[-1],
           "figures": figures, "without_ms": without, "with_ms": with_hook}
    (results / "raw.json").write_text(json.dumps(raw, indent=1))
    # The section of docs/benchmarks.md (bench/run.sh puts the last one in its report).
    report = oci_hook_section(Template(), raw)
    (results / "report.md").write_text(report)
    print(report)
    log(f"results in {results}")


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/oci_hook.py needs root")
    try:
        with_cleanup("palisade-bench-hook", lambda cleanup, work: measure(args, cleanup, work))
    except BenchError as e:
        sys.exit(f"oci_hook: {e}")


if __name__ == "__main__":
    main()
