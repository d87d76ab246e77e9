"""What every part of the bench uses: the log, the error that stops a run, and
running children that are bounded in time and never outlive the driver."""

import ctypes
import signal
import statistics
import subprocess
import sys
import time

T0 = time.monotonic()
libc = ctypes.CDLL(None, use_errno=True)


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def run(argv, check=True, timeout=120, stdin_file=None, preexec_fn=None):
    """Runs argv (bounded by timeout: the child is killed by PID when it passes)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=stdin_file,
                       preexec_fn=preexec_fn)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def die_with_parent():
    # PR_SET_PDEATHSIG(SIGKILL): a child never outlives a killed driver.
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def stop_process(p, sig=signal.SIGTERM, wait=5):
    if p.poll() is not None:
        return p.returncode
    p.send_signal(sig)
    try:
        return p.wait(wait)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(5)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
