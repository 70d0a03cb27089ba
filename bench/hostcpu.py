"""CPU time of everything a lab host runs, counted by a cgroup of the host's own.

One process's counters miss most of what a tool costs while idle: the
slave's daemon (its probes), the sshd session that answers the master's
queries, an ssh client kept open; and a process that exits inside the
window takes its time with it unless a process still measured reaps it.
A cgroup counts all of them, to the microsecond, exited or not: every
process in the host's network namespace is moved into it at the start,
and what they start later is born there. What the bench itself starts in
the host meanwhile (nsenter from outside) is not: measure a quiet window.
"""

import errno
import os
import time
from pathlib import Path

from fmirror.errors import Failed
from fmirror.lab import Lab

PREFIX = "fmirror-bench"
EMPTY_TIMEOUT = 5.0    # s for a group's processes to leave it
EMPTY_POLL = 0.02


def cgroup2_root(mounts: str) -> Path:
    """Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified beside v1."""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise Failed("no cgroup v2 hierarchy mounted: the bench counts each lab host's CPU with one")


def usage_seconds(cpu_stat: str) -> float:
    """CPU seconds from a cgroup's cpu.stat (usage_usec: user and system, every process ever in it)."""
    for line in cpu_stat.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    raise ValueError("cpu.stat has no usage_usec")


def _netns(pid) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None   # gone, or a kernel thread's


class HostCPU:
    """`with HostCPU(lab, hosts) as meter:` … `meter.seconds()` -> {host: CPU seconds since entering}."""

    def __init__(self, lab: Lab, hosts):
        self.lab, self.hosts = lab, list(hosts)
        self.root = cgroup2_root(Path("/proc/self/mounts").read_text())
        self.groups: dict[str, Path] = {}

    def __enter__(self):
        try:
            for host in self.hosts:
                group = self.root / f"{PREFIX}-{os.getpid()}-{host}"
                group.mkdir()
                self.groups[host] = group
                self._move(_netns(self.lab[host].anchor.pid), group)
        except BaseException:
            self.__exit__()
            raise
        return self

    def seconds(self) -> dict:
        return {host: usage_seconds((group / "cpu.stat").read_text()) for host, group in self.groups.items()}

    def __exit__(self, *exc):
        # Back into this process's own cgroup, so that the groups can go: the hosts' processes
        # outlive the measurement.
        home = self.root / _own_cgroup(Path("/proc/self/cgroup").read_text()).lstrip("/")
        for group in self.groups.values():
            _empty(group, home)
        self.groups = {}

    @staticmethod
    def _move(netns: int | None, group: Path):
        if netns is None:
            raise Failed(f"lab host gone before its CPU could be counted ({group.name})")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if _netns(pid) == netns:
                _enter(group, pid)


def _empty(group: Path, home: Path):
    """Move every process out of group, then remove it.

    A process in the group can fork while the others move (sshd taking a
    session): read again until none is left. One that is exiting still holds
    the group for a moment (EBUSY).
    """
    deadline = time.monotonic() + EMPTY_TIMEOUT
    while True:
        pids = (group / "cgroup.procs").read_text().split()
        for pid in pids:
            _enter(home, pid)
        if not pids:
            try:
                group.rmdir()
                return
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
        if time.monotonic() > deadline:
            raise Failed(f"cgroup {group} still held a process after {EMPTY_TIMEOUT} s")
        time.sleep(EMPTY_POLL)


def _own_cgroup(proc_cgroup: str) -> str:
    """This process's cgroup v2 path from /proc/self/cgroup (the "0::" line)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"


def _enter(group: Path, pid: str):
    try:
        (group / "cgroup.procs").write_text(pid)
    except ProcessLookupError:
        pass   # it exited meanwhile: nothing of it left to count
