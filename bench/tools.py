"""The tools under test, started and stopped the same way in every scenario.

fmirror runs the way README tells an operator to (fmirror.lab.mirror);
lsyncd runs `default.rsyncssh` as its users configure it; rsync is the
one-shot reference. The peers reach the slave with a key of their own that
is not bound to `fmirror serve` (lsyncd runs `ssh host mv` for moves), and
with fmirror's own ssh options, so the wire costs every tool the same.
"""

import itertools
import shlex
import signal
import time
from types import SimpleNamespace

from fmirror import process, ssh as fmirror_ssh
from fmirror.config.schema import SCHEMA
from fmirror.errors import Failed
from fmirror.lab import Lab, mirror, sshd
from fmirror.lab.wait import wait_until

MASTER, SLAVE = "master", "slave"
ROOT = "/srv/www"
PEER_KEY = "/etc/fmirror/bench_peer_ed25519"
# The peers' own known_hosts and ssh control sockets: sharing fmirror's
# control socket would run the peers' commands over fmirror's forced-command key.
PEER_STATE = "/var/lib/fmirror/bench-peers"
LSYNCD_CONF = "/etc/fmirror/lsyncd.conf.lua"
LSYNCD_DEFAULT_DELAY = 15   # default.rsyncssh's own default
LSYNCD_STARTED = 'Startup of "{}/" finished'
STATUS_POLL = 0.5           # a `fmirror status` call costs a Python start-up: poll gently
STOP_TIMEOUT = 30


def fmirror_config(lab: Lab) -> dict:
    """fmirror's defaults for replication, one mirrored path, no debug logging."""
    return mirror.config(lab, paths=(ROOT,), log_level="info", replication={"full_sync_interval": 600})


def install(lab: Lab):
    """fmirror's config and keys on both hosts, then a plain key for the peers on the slave.

    Must come after mirror.install: the lab rewrites authorized_keys whenever it authorizes.
    """
    mirror.install(lab, fmirror_config(lab))
    master, slave = lab[MASTER], lab[SLAVE]
    sshd.keygen(master.path(PEER_KEY), "bench-peers@master")
    (master.path(PEER_STATE) / "ssh").mkdir(parents=True, exist_ok=True)
    authorized = slave.path(sshd.AUTHORIZED_KEYS)
    pubkey = master.path(PEER_KEY + ".pub").read_text()
    authorized.write_text(authorized.read_text() + pubkey)


def peer_ssh_argv() -> list:
    """fmirror.ssh.ssh_argv (the very options fmirror uses), with the peers' key and state dir."""
    transport = SimpleNamespace(ssh_key=PEER_KEY, ssh_port=22, ssh_user="root")
    return fmirror_ssh.ssh_argv(SimpleNamespace(transport=transport, state_dir=PEER_STATE))


def rsync_argv(address: str, dry_run=False, pull=False, options=()) -> list:
    """The reference: `rsync -a --delete` of the whole root over the peers' ssh; pull: from the peer."""
    flags = "-an" if dry_run else "-a"
    here, there = ROOT + "/", f"root@{address}:{ROOT}/"
    return ["rsync", flags, "--delete", *options, "-e", shlex.join(peer_ssh_argv()),
            *((there, here) if pull else (here, there))]


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ssh_settings(argv: list) -> tuple[str, str, dict]:
    """(identity file, port, {option: value}) of an ssh command line like peer_ssh_argv()."""
    key = port = None
    options = {}
    words = iter(argv[1:])
    for word in words:
        if word == "-i":
            key = next(words)
        elif word == "-p":
            port = next(words)
        elif word == "-o":
            name, value = next(words).split("=", 1)
            options[name] = value
        elif word == "-l":
            next(words)   # the user goes into lsyncd's host= instead
    return key, port, options


def lsyncd_config(address: str, delay: int, ssh_argv: list) -> str:
    """A default.rsyncssh config as its users write it: archive mode, our key and ssh options."""
    key, port, options = ssh_settings(ssh_argv)
    opts = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in options.items())
    return ("settings { nodaemon = true }\n"
            "sync {\n"
            "    default.rsyncssh,\n"
            f"    source = {lua_string(ROOT + '/')},\n"
            f"    host = {lua_string('root@' + address)},\n"
            f"    targetdir = {lua_string(ROOT + '/')},\n"
            f"    delay = {delay},\n"
            "    rsync = { archive = true },\n"
            f"    ssh = {{ identityFile = {lua_string(key)}, port = {port}, options = {{ {opts} }} }},\n"
            "}\n")


def close_peer_ssh(lab: Lab):
    """End the peers' shared ssh connection, so the next run pays its own handshake."""
    argv = peer_ssh_argv() + ["-O", "exit", lab[SLAVE].address]
    lab[MASTER].run(argv, check=False, timeout=10)


class Fmirror:
    name = "fmirror"
    live = True
    delay = SCHEMA["replication.delay"].default   # fmirror_config keeps the default

    def __init__(self, lab: Lab):
        self.lab = lab

    @property
    def pid(self) -> int:
        return self.lab.daemon(MASTER).pid

    def launch(self):
        """Start the slave's daemon, then the master's; returns at once."""
        self.lab.start_daemon(SLAVE)
        self.lab.start_daemon(MASTER)

    def start(self, timeout: float):
        self.launch()
        wait_until(self.ready, timeout, "fmirror's first full sync", interval=STATUS_POLL)

    def status(self) -> dict:
        return mirror.status(self.lab, MASTER)

    def ready(self) -> dict | None:
        """The master's status once every slave had its full sync and nothing is unsent."""
        try:
            st = self.status()
        except Failed:
            return None   # the daemon is not answering yet
        slaves = st.get("slaves") or {}
        if slaves and all(s["last_full_sync"] and not s["unsent"] and not s["full_sync_pending"]
                          for s in slaves.values()):
            return st
        return None

    def bytes_sent(self) -> int:
        return sum(s["bytes_sent"] for s in self.status()["slaves"].values())

    def stop(self):
        for host in (MASTER, SLAVE):
            if self.lab.daemon(host) is not None:
                if self.lab.kill_daemon(host, signal.SIGTERM, STOP_TIMEOUT) is None:
                    raise Failed(f"fmirror daemon on {host} did not stop within {STOP_TIMEOUT} s")


class Lsyncd:
    live = True
    _runs = itertools.count()

    def __init__(self, lab: Lab, delay: int):
        self.lab, self.delay = lab, delay
        self.name = self.name_for(delay)
        self.proc = None
        self.log = None

    @staticmethod
    def name_for(delay: int) -> str:
        return f"lsyncd (delay {delay})"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def launch(self):
        master = self.lab[MASTER]
        master.path(LSYNCD_CONF).write_text(lsyncd_config(self.lab[SLAVE].address, self.delay,
                                                          peer_ssh_argv()))
        self.log = self.lab.log_path(MASTER, f"lsyncd-{next(self._runs)}")
        self.proc = master.spawn(["lsyncd", LSYNCD_CONF], self.log)

    def start(self, timeout: float):
        self.launch()
        wait_until(self.ready, timeout, f"{self.name}: startup sync")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise Failed(f"{self.name} exited with status {self.proc.returncode}, see {self.log}")
        return LSYNCD_STARTED.format(ROOT) in self.log.read_text(errors="replace")

    def stop(self):
        if self.proc is not None:
            process.stop(self.proc, grace=STOP_TIMEOUT)
            self.proc = None
        close_peer_ssh(self.lab)


class Rsync:
    """One `rsync -a --delete` run when asked: what anyone who knows the burst is over could do."""
    name = "rsync (one-shot)"
    live = False

    def __init__(self, lab: Lab):
        self.lab = lab

    def sync(self, dry_run=False, timeout: float = 3600, pull=False, options=()) -> float:
        """Run it once inside the master (pull: the slave's tree into the master's); the seconds it took."""
        began = time.monotonic()
        self.lab[MASTER].run(rsync_argv(self.lab[SLAVE].address, dry_run, pull, options), timeout=timeout)
        took = time.monotonic() - began
        close_peer_ssh(self.lab)
        return took


def lsyncd_delays(quick: bool) -> list:
    """lsyncd at its default delay only in a full run.

    The default delay puts 15 s of waiting into every measurement: a quick
    run, there to keep the harness working, cannot afford it, and its code
    path is the same as delay 0's.
    """
    return [0] if quick else [LSYNCD_DEFAULT_DELAY, 0]


def live_tools(lab: Lab, quick: bool) -> list:
    return [Fmirror(lab)] + [Lsyncd(lab, d) for d in lsyncd_delays(quick)]


def live_tool_names(quick: bool) -> list:
    return [Fmirror.name] + [Lsyncd.name_for(d) for d in lsyncd_delays(quick)]
