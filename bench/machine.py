"""The machine and software a run measured, for the report's first table."""

import os
import platform
import time
from pathlib import Path

from common import run

REPO = Path(__file__).resolve().parent.parent


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def _os_release():
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "?"


def _commit():
    git = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                check=False).stdout.strip()
    return git + ("+dirty" if dirty else "")


def _version(argv):
    return run(argv, check=False).stdout.strip()


def machine_info(args):
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    clocksource = _read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": _cpu_model(), "cpus": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
        "kernel": platform.release(), "os": _os_release(),
        "clocksource": clocksource.strip() or "?", "commit": _commit(),
        "palisade": _version([str(args.build / "palisade"), "version"]).splitlines()[0:1],
        "iptables": _version(["iptables", "--version"]),
        "nft": _version(["nft", "--version"]),
        "iperf3": run(["iperf3", "--version"], check=False).stdout.split("\n")[0].strip(),
    }
