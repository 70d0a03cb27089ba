"""Network namespaces, the lab's bridge, and the network faults played on it.

Every host is wired to one bridge `br0` in a namespace of its own (`lan`):
the host side of the veth is `eth0`, the bridge side is the port named after
the host. Faults act on the bridge, where no host can see or undo them.
"""

import logging
import os
import re
import signal

from fmirror import process
from fmirror.lab.wait import wait_until

log = logging.getLogger(__name__)

BRIDGE = "br0"
HOST_IFACE = "eth0"
NFT_TABLE = "fmlab"
PORT_PREFIX = "v-"
IFNAMSIZ = 15           # usable characters in a Linux interface name
TBF_BURST = "32kb"      # at least one MTU; small so a slow link is slow from the first second
TBF_LATENCY = "200ms"   # how long a packet may queue before tbf drops it
KILL_DEADLINE = 5.0

_RUN_PREFIX = re.compile(r"^fm(\d+)[0-9a-f]{4}-")


def run_prefix(pid: int, random4: str) -> str:
    """Namespace names of one lab run: unique per run, and they name the process that owns them."""
    return f"fm{pid}{random4}"


def port_name(host: str) -> str:
    """The bridge-side end of a host's veth (lives in the lan namespace only)."""
    name = PORT_PREFIX + host
    if len(name) > IFNAMSIZ:
        raise ValueError(f"lab host name {host!r} is too long for an interface name")
    return name


def add(name: str):
    process.run(["ip", "netns", "add", name])


def delete(name: str):
    process.run(["ip", "netns", "del", name], check=False)


def names() -> list[str]:
    out = process.run(["ip", "netns", "list"]).text
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pids(name: str) -> set[int]:
    """PIDs of every process whose network namespace is `name` (empty if it is gone)."""
    result = process.run(["ip", "netns", "pids", name], check=False)
    return {int(word) for word in result.text.split()} if result.returncode == 0 else set()


def kill_all(name: str):
    """SIGKILL every process in namespace `name` until none is left (they may still be forking)."""
    def killed_all() -> bool:
        left = pids(name)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return not left
    wait_until(killed_all, KILL_DEADLINE, f"killing the processes in namespace {name}")


def remove_stale():
    """Delete namespaces left by lab runs whose process died without tearing down (SIGKILL, OOM).

    Runs of live processes (a parallel test session) are left alone.
    """
    for name in names():
        match = _RUN_PREFIX.match(name)
        if match and not _alive(int(match.group(1))):
            log.warning("removing namespace %s of a lab run that died", name)
            kill_all(name)
            delete(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def nft_table(family: str, name: str, body: list[str]) -> str:
    """An nftables table replaced whole, atomically (declare, delete, redefine): body is its lines."""
    inner = "".join(f"\t{line}\n" for line in body)
    return f"table {family} {name}\ndelete table {family} {name}\ntable {family} {name} {{\n{inner}}}\n"


def nft_ruleset(blocked: set[frozenset], loss_percent: int) -> str:
    """The whole lab filter, replaced at every change."""
    rules = []
    for pair in sorted(tuple(sorted(p)) for p in blocked):
        a, b = pair
        # IPv4 only: ARP still passes, as on a real network where a firewall drops the traffic.
        rules.append(f"ip saddr {a} ip daddr {b} drop")
        rules.append(f"ip saddr {b} ip daddr {a} drop")
    if loss_percent == 100:
        rules.append("drop")  # numgen's "< 100" is out of its range
    elif loss_percent:
        rules.append(f"numgen random mod 100 < {loss_percent} drop")
    return nft_table("bridge", NFT_TABLE, ["chain forward {", "\ttype filter hook forward priority 0; policy accept;",
                                           *(f"\t{rule}" for rule in rules), "}"])


def tbf_argv(netns: str, dev: str, rate: str) -> list[str]:
    return ["tc", "-n", netns, "qdisc", "replace", "dev", dev, "root",
            "tbf", "rate", rate, "burst", TBF_BURST, "latency", TBF_LATENCY]


class Lan:
    """The bridge in its own namespace, the hosts' links to it, and the faults on it."""

    def __init__(self, netns: str):
        self.netns = netns
        self._blocked: set[frozenset] = set()
        self._loss = 0

    def create(self):
        add(self.netns)
        self._ip("link", "add", BRIDGE, "type", "bridge")
        self._ip("link", "set", BRIDGE, "up")
        self._apply_rules()

    def connect(self, host: str, host_netns: str, address: str, prefixlen: int):
        """Plug a host in: veth created in the lan namespace, its peer moved straight into the host's."""
        port = port_name(host)
        self._ip("link", "add", port, "type", "veth", "peer", "name", HOST_IFACE, "netns", host_netns)
        self._ip("link", "set", port, "master", BRIDGE, "up")
        host_ip = ["ip", "-n", host_netns]
        process.run(host_ip + ["addr", "add", f"{address}/{prefixlen}", "dev", HOST_IFACE])
        process.run(host_ip + ["link", "set", HOST_IFACE, "up"])
        process.run(host_ip + ["link", "set", "lo", "up"])

    def set_link(self, host: str, up: bool):
        self._ip("link", "set", port_name(host), "up" if up else "down")

    def block(self, address_a: str, address_b: str):
        self._blocked.add(frozenset((address_a, address_b)))
        self._apply_rules()

    def unblock(self, address_a: str, address_b: str):
        self._blocked.discard(frozenset((address_a, address_b)))
        self._apply_rules()

    def loss(self, percent: int):
        if not 0 <= percent <= 100:
            raise ValueError(f"loss must be 0..100 percent, got {percent}")
        self._loss = percent
        self._apply_rules()

    def slow(self, host: str, host_netns: str, rate: str):
        """Shape both directions: into the host on its bridge port, out of it on its eth0."""
        process.run(tbf_argv(self.netns, port_name(host), rate))
        process.run(tbf_argv(host_netns, HOST_IFACE, rate))

    def clear_slow(self, host: str, host_netns: str):
        for netns, dev in ((self.netns, port_name(host)), (host_netns, HOST_IFACE)):
            # Status 2 means "no such qdisc": the link was not slowed.
            process.run(["tc", "-n", netns, "qdisc", "del", "dev", dev, "root"], ok_codes=(0, 2))

    def _ip(self, *args):
        process.run(["ip", "-n", self.netns, *args])

    def _apply_rules(self):
        process.run(["ip", "netns", "exec", self.netns, "nft", "-f", "-"],
                    input=nft_ruleset(self._blocked, self._loss).encode())
