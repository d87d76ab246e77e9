"""What /proc says about a running process (the agent): CPU time and memory."""

import os
import time
from pathlib import Path


def proc_cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kb(pid, key):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _mapping_kind(name):
    if name.startswith("anon_inode:bpf"):
        return "bpf_maps"
    return "files" if name.startswith("/") else "anon"


def rss_breakdown(pid):
    """Resident KiB by kind of mapping, from /proc/PID/smaps."""
    out = {"bpf_maps": 0, "files": 0, "anon": 0}
    kind = "anon"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if parts and "-" in parts[0] and not parts[0].endswith(":"):
                    kind = _mapping_kind(parts[5] if len(parts) > 5 else "")
                elif parts and parts[0] == "Rss:":
                    out[kind] += int(parts[1])
    except OSError:
        return None
    return out


def cpu_share(pid, seconds):
    """The process's CPU use over the next `seconds` (a share of one CPU)."""
    cpu0 = proc_cpu_seconds(pid)
    time.sleep(seconds)
    return (proc_cpu_seconds(pid) - cpu0) / seconds
