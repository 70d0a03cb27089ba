"""The lab: several real hosts on one machine, for lab tests, benchmarks and `fmirror demo`.

    with Lab(workdir) as lab:                    # master, slave, witness, client
        lab.write_config(yaml_text)
        lab.authorize("master", ["fmirror", "serve"])
        lab.start_daemon("master")
        lab.block("master", "slave")
        lab["slave"].run(["ping", "-c1", lab["master"].address], check=False)

Hosts are named network + mount + UTS namespaces (see host.py) on one bridge
(netns.py), each with a real sshd (sshd.py). Needs root. close() kills what
the lab started, by PID, and deletes its namespaces, whatever happened.
"""

import ipaddress
import itertools
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from fmirror import process
from fmirror.errors import Failed
from fmirror.lab import netns, sshd
from fmirror.lab.host import Host
from fmirror.lab.wait import wait_until

log = logging.getLogger(__name__)

DEFAULT_HOSTS = ("master", "slave", "witness", "client")
# TEST-NET-2 only: the machines running the lab sit in 192.0.2.0/24.
NETWORK = ipaddress.ip_network("198.51.100.0/24")
ADDRESSES = {"master": "198.51.100.1", "slave": "198.51.100.2",
             "witness": "198.51.100.254", "client": "198.51.100.10"}
OTHER_HOSTS_FROM = 20   # hosts not named above get .20, .21, ...
HOST_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
FMIRROR = Path(sys.executable).parent / "fmirror"
DAEMON_STOP_GRACE = 5.0
REAP_TIMEOUT = 5.0
REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "mount", "hostname", "nft", "tc",
                  "ssh", "ssh-keygen", sshd.SSHD)


def unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"the lab needs {', '.join(missing)}"
    if process.run(["ip", "netns", "list"], check=False).returncode != 0:
        return "ip netns does not work here"
    return None


def assign_addresses(names) -> dict[str, str]:
    others = (str(NETWORK[i]) for i in itertools.count(OTHER_HOSTS_FROM)
              if str(NETWORK[i]) not in ADDRESSES.values())
    return {name: ADDRESSES.get(name) or next(others) for name in names}


class Lab:
    def __init__(self, workdir: Path, hosts=DEFAULT_HOSTS):
        hosts = list(hosts)
        for name in hosts:
            if not HOST_NAME.match(name):
                raise ValueError(f"lab host name must be a lowercase hostname, got {name!r}")
            netns.port_name(name)  # refuses names too long for an interface
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"lab host names repeat: {hosts}")
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / "logs"
        self.prefix = netns.run_prefix(os.getpid(), secrets.token_hex(2))
        self.lan = netns.Lan(f"{self.prefix}-lan")
        addresses = assign_addresses(hosts)
        self.hosts = {name: Host(name, f"{self.prefix}-{name}", addresses[name],
                                 self.workdir / "hosts" / name, self.log_dir)
                      for name in hosts}
        self._sshd = {name: sshd.Sshd(host, self.log_path(name, "sshd"))
                      for name, host in self.hosts.items()}
        self._daemons: dict[str, subprocess.Popen] = {}
        self.namespaces: list[str] = []  # created so far: close() deletes exactly these
        self._started = False
        self._closed = False

    def __getitem__(self, host) -> Host:
        if isinstance(host, Host):
            return host
        try:
            return self.hosts[host]
        except KeyError:
            raise KeyError(f"no lab host {host!r} (hosts: {', '.join(self.hosts)})") from None

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self) -> "Lab":
        """Bring every host up, sshd listening; on any failure tear down what was made, and raise.

        Once is enough (`with Lab(...)` starts it); a second call returns the running lab.
        """
        if self._closed:
            raise Failed(f"lab {self.prefix} is closed: make a new Lab")
        if self._started:
            return self
        self._started = True
        began = time.monotonic()
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            netns.remove_stale()
            self.namespaces.append(self.lan.netns)
            self.lan.create()
            for host in self.hosts.values():
                self.namespaces.append(host.netns)
                netns.add(host.netns)
                self.lan.connect(host.name, host.netns, host.address, NETWORK.prefixlen)
                host.start()
                self._sshd[host.name].prepare()
                self._sshd[host.name].start()
            for server in self._sshd.values():
                server.wait_listening()
        except BaseException:
            self.close()
            raise
        log.info("lab %s: %s up in %.2f s", self.prefix, ", ".join(self.hosts), time.monotonic() - began)
        return self

    def close(self):
        """Stop daemons gently, kill everything else the lab started, delete its namespaces. Idempotent."""
        if self._closed:
            return
        self._closed = True
        began = time.monotonic()
        try:
            self._stop_daemons()
        finally:
            self._destroy()
        log.info("lab %s: down in %.2f s", self.prefix, time.monotonic() - began)

    def _stop_daemons(self):
        """SIGTERM every daemon at once, give them DAEMON_STOP_GRACE s together; close() kills the rest."""
        running = [proc for proc in self._daemons.values() if proc.poll() is None]
        for proc in running:
            proc.terminate()
        try:
            wait_until(lambda: all(proc.poll() is not None for proc in running),
                       DAEMON_STOP_GRACE, "daemons stopping")
        except Failed as error:
            log.warning("%s: killing them", error)

    def _destroy(self):
        """SIGKILL what the lab started and whatever else runs in its namespaces, then delete them."""
        started = [proc for host in self.hosts.values() for proc in host.processes]
        for proc in started:
            if proc.poll() is None:
                proc.kill()
        for name in self.namespaces:
            try:
                netns.kill_all(name)
            except Failed as error:
                log.error("%s", error)
        for proc in started:
            try:
                proc.wait(REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.error("lab: pid %d did not die", proc.pid)
        for name in reversed(self.namespaces):
            netns.delete(name)

    def pids(self) -> set[int]:
        """Every process the lab started itself (anchors, sshd, daemons, spawned)."""
        return {proc.pid for host in self.hosts.values() for proc in host.processes}

    def log_path(self, host, what: str) -> Path:
        return self.log_dir / f"{self[host].name}-{what}.log"

    def log_files(self) -> list[Path]:
        return sorted(self.log_dir.glob("*.log"))

    # --- fmirror on the hosts

    def write_config(self, text: str):
        """The same /etc/fmirror/fmirror.yaml on every host, as in production."""
        for host in self.hosts.values():
            host.path("/etc/fmirror/fmirror.yaml").write_text(text)

    def start_daemon(self, host, argv_tail=("daemon",)) -> subprocess.Popen:
        host = self[host]
        if self.daemon(host) is not None:
            raise Failed(f"lab: a daemon already runs on {host.name}")
        proc = host.spawn([FMIRROR, *argv_tail], self.log_path(host, "daemon"))
        self._daemons[host.name] = proc
        return proc

    def daemon(self, host) -> subprocess.Popen | None:
        """The host's running daemon, if any."""
        proc = self._daemons.get(self[host].name)
        return proc if proc is not None and proc.poll() is None else None

    def kill_daemon(self, host, sig=signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Send sig to the host's daemon and wait up to timeout s (0: don't) for its exit status."""
        proc = self._daemons.get(self[host].name)
        if proc is None:
            raise Failed(f"lab: no daemon was started on {self[host].name}")
        proc.send_signal(sig)
        if not timeout:
            return None
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def fmirror(self, host, *args, input=None, timeout=60, check=False) -> process.Result:
        """Run the fmirror CLI inside the host."""
        return self[host].run([FMIRROR, *args], input=input, timeout=timeout, check=check)

    # --- ssh

    def authorize(self, host, forced_command_argv):
        """Let host's key run forced_command_argv, and nothing else, on every other host."""
        source = self[host]
        line = sshd.authorized_line(forced_command_argv, self._sshd[source.name].pubkey)
        for name, server in self._sshd.items():
            if name != source.name:
                server.authorize(source.name, line)

    def ssh(self, source, target, *command, input=None, timeout=30, check=False) -> process.Result:
        """ssh from source to target with fmirror's options and source's key."""
        argv = sshd.ssh_argv(self[target].address, *command)
        return self[source].run(argv, input=input, timeout=timeout, check=check)

    def stop_sshd(self, host):
        self._sshd[self[host].name].stop()

    def start_sshd(self, host):
        server = self._sshd[self[host].name]
        server.start()
        server.wait_listening()

    # --- network faults

    def link_down(self, host):
        self.lan.set_link(self[host].name, up=False)

    def link_up(self, host):
        self.lan.set_link(self[host].name, up=True)

    def block(self, a, b):
        """Silently drop IPv4 between the two hosts' addresses, both ways (ARP still passes)."""
        self.lan.block(self[a].address, self[b].address)

    def unblock(self, a, b):
        self.lan.unblock(self[a].address, self[b].address)

    def loss(self, percent: int):
        """Drop percent % of all frames crossing the bridge, at random."""
        self.lan.loss(percent)

    def clear_loss(self):
        self.lan.loss(0)

    def slow(self, host, rate: str):
        """Limit the host's link to a tc rate ("1mbit", "500kbit"), both directions."""
        self.lan.slow(self[host].name, self[host].netns, rate)

    def clear_slow(self, host):
        self.lan.clear_slow(self[host].name, self[host].netns)
