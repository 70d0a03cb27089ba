"""What the scenarios read off the system: bytes on the wire, memory, CPU time."""

import time

import psutil

from fmirror.lab import Lab
from fmirror.lab.netns import HOST_IFACE


def tx_bytes(lab: Lab, host: str) -> int:
    """Bytes the host sent on its link: the same meter for every tool, ssh and TCP included."""
    return int(lab[host].run(["cat", f"/sys/class/net/{HOST_IFACE}/statistics/tx_bytes"]).text)


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes: exact, no sampling needed."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"no VmHWM for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system time of the process and of its children it has reaped (rsync, ssh)."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def idle_cpu_percent(pid: int, seconds: float) -> float:
    """Share of one core the process used while nothing changed, over `seconds`."""
    began, cpu = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)   # measuring idleness: nothing to poll for
    return 100 * (cpu_seconds(pid) - cpu) / (time.monotonic() - began)
