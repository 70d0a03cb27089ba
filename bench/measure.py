"""What the scenarios read off the system: bytes on the wire, memory, CPU time."""

import json
import os
import sys
import time

import psutil

from fmirror import process
from fmirror.lab import Lab, netns
from fmirror.lab.netns import HOST_IFACE

from bench import REPO


def tx_bytes(lab: Lab, host: str) -> int:
    """Bytes the host sent on its link: the same meter for every tool, ssh and TCP included."""
    return int(lab[host].run(["cat", f"/sys/class/net/{HOST_IFACE}/statistics/tx_bytes"]).text)


WAKE_TIMEOUT = 120
# An nftables table of the bench's own in a lab host's namespace: a counter, no verdict but accept.
METER_TABLE = "fmirror_bench_meter"


def meter_ssh(lab: Lab, host: str, peer: str):
    """Start counting the IP bytes `host` sends to the sshd of the lab host `peer` (from zero).

    The bytes a tool sends over ssh, without the rest of what the host sends:
    fmirror's slave pings its master and asks its state (the failover watch,
    which lsyncd does not have); the master's answers go to the slave's own
    ports, not to its sshd. Both tools' ssh keepalives are counted alike.
    """
    ruleset = netns.nft_table("inet", METER_TABLE, [
        "counter to_sshd { }",
        "chain out {",
        "\ttype filter hook output priority 0; policy accept;",
        f"\tip daddr {lab[peer].address} tcp dport 22 counter name to_sshd",
        "}"])
    lab[host].run(["nft", "-f", "-"], input=ruleset.encode())


def ssh_bytes(lab: Lab, host: str) -> int:
    """IP bytes counted since meter_ssh (IP headers included, the link's own not: tx_bytes counts 14 more a frame)."""
    listing = json.loads(lab[host].run(["nft", "-j", "list", "counter", "inet", METER_TABLE, "to_sshd"]).text)
    return next(item["counter"]["bytes"] for item in listing["nftables"] if "counter" in item)


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


def wakeups(pid: int) -> int:
    """Times the process's threads went to sleep of their own accord (voluntary context switches).

    An idle thread that wakes, works and sleeps again adds one; waits on a
    lock or a pipe add one each too. Threads gone take their counts along.
    """
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def idle_use(pid: int, seconds: float) -> tuple:
    """(share of one core in percent, wake-ups a minute) of the process while nothing changed, over `seconds`."""
    began, cpu, woke = time.monotonic(), cpu_seconds(pid), wakeups(pid)
    time.sleep(seconds)   # measuring idleness: nothing to poll for
    elapsed = time.monotonic() - began
    return 100 * (cpu_seconds(pid) - cpu) / elapsed, 60 * (wakeups(pid) - woke) / elapsed


def wake_cost(quick: bool) -> dict:
    """bench.wake run apart from everything else: {"cold_ms", "warm_ms", "wakes"}."""
    args = ["--wakes", "2", "--gap", "0.5"] if quick else []
    out = process.run([sys.executable, "-m", "bench.wake", *args], cwd=REPO, timeout=WAKE_TIMEOUT).text
    return json.loads(out)
