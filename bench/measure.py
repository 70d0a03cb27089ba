"""What the scenarios read off the system: bytes on the wire, memory, CPU time."""

import json
import os
import time

from fmirror.lab import Lab, netns
from fmirror.lab.netns import HOST_IFACE

from bench.hostcpu import HostCPU
from bench.tools import MASTER, SLAVE


def tx_bytes(lab: Lab, host: str) -> int:
    """Bytes the host sent on its link: the same meter for every tool, ssh and TCP included."""
    return int(lab[host].run(["cat", f"/sys/class/net/{HOST_IFACE}/statistics/tx_bytes"]).text)


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


def idle_use(lab: Lab, pid: int, seconds: float) -> dict:
    """What the hosts spent while nothing changed, over `seconds`, in percent of one core.

    idle_cpu_<host>: everything the host ran (hostcpu); idle_cpu: both
    together, what the pair costs; idle_wakes: the tool's daemon (pid) on
    the master, wake-ups a minute.
    """
    with HostCPU(lab, (MASTER, SLAVE)) as meter:
        began, used, woke = time.monotonic(), meter.seconds(), wakeups(pid)
        time.sleep(seconds)   # measuring idleness: nothing to poll for
        elapsed, spent = time.monotonic() - began, meter.seconds()
    share = {host: 100 * (spent[host] - used[host]) / elapsed for host in spent}
    return {"idle_cpu": sum(share.values()), **{f"idle_cpu_{host}": v for host, v in share.items()},
            "idle_wakes": 60 * (wakeups(pid) - woke) / elapsed}
