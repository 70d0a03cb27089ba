"""ssh to a peer: one reused connection per peer (ControlMaster), requests to its `fmirror serve`."""

import functools
import os
import shlex
import time

from fmirror import process, protocol
from fmirror.config.model import Config, Node
from fmirror.errors import CommandError, Error, Refused

CONNECT_TIMEOUT = 5
# The master connection outlives a push by this long, so the next push,
# 0.2 s later, skips the handshake; it exits by itself when idle.
CONTROL_PERSIST = 60
LINK_RETRY_MIN = 1.0   # s: the ordinary try after a link failed at its deadline
# AES-GCM ahead of OpenSSH's first choice, chacha20-poly1305, on a CPU with AES
# instructions: there it takes a fraction of the CPU, and a big push is bound by
# the encryption at both ends (bench/findings.md). chacha20 stays first elsewhere,
# where it is the faster one; the rest of the default list follows either way.
AES_FIRST = "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com"


class PeerRefused(Refused):
    """{} refused: {}"""

    def __init__(self, peer: str, refusal: protocol.Refusal):
        super().__init__(peer, refusal.reason)
        self.refusal = refusal


class PeerUnreachable(Error):
    """cannot reach {} over ssh: {}"""


def control_dir(cfg: Config) -> str:
    return os.path.join(cfg.state_dir, "ssh")


def ssh_argv(cfg: Config, shared: bool = True) -> list:
    """ssh options of every connection to a peer (no host, no command); shared: through the one connection kept."""
    t = cfg.transport
    own = [
        "ssh", "-i", t.ssh_key, "-p", str(t.ssh_port), "-l", t.ssh_user,
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        # Trust on first use, in fmirror's own file: a changed host key is refused.
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", f"UserKnownHostsFile={os.path.join(cfg.state_dir, 'known_hosts')}",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
        *cipher_options(cpu_flags()),
    ]
    if not shared:
        return own
    return own + [
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={os.path.join(control_dir(cfg), '%C')}",
        "-o", f"ControlPersist={CONTROL_PERSIST}",
    ]


def cipher_options(flags: frozenset) -> list:
    return ["-o", AES_FIRST] if "aes" in flags else []


@functools.cache
def cpu_flags() -> frozenset:
    """This machine's CPU features, as /proc/cpuinfo names them (empty when it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return parse_cpu_flags(f.read())
    except OSError:
        return frozenset()


def parse_cpu_flags(cpuinfo: str) -> frozenset:
    """The first processor's "flags" (x86) or "Features" (ARM) words."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def rsh(cfg: Config) -> str:
    """ssh_argv as one string for rsync -e, which splits it honouring quotes."""
    return shlex.join(ssh_argv(cfg))


def prepare(cfg: Config) -> None:
    os.makedirs(control_dir(cfg), mode=0o700, exist_ok=True)


def call(cfg: Config, peer: Node, words: list, input: bytes | None = None, timeout: float = 30,
         links=None, shared: bool = True) -> bytes:
    """Send a request to the peer's `fmirror serve`; return its stdout.

    links (link.Links, the daemon's): protocol.LINKED requests go over the
    session kept open to the peer, and the ordinary way if that fails.
    shared=False: on a connection of its own, for a peer judged down, whose
    shared connection may be dead and would hold the request until its
    keepalives give up (15 s) where a new one fails within ConnectTimeout.
    Raises PeerRefused when the peer said no, PeerUnreachable when ssh could
    not get there, CommandError for anything else.
    """
    argv = ssh_argv(cfg, shared) + [peer.address, shlex.join(words)]
    if links is not None and words[1] in protocol.LINKED:
        began = time.monotonic()
        answer = links.call(cfg, peer, words, input, timeout)
        if answer is not None:
            return _outcome(peer, argv, *answer, linked=True)
        # What the link left of the time: a peer that timed out there gets no second wait here.
        timeout = max(LINK_RETRY_MIN, timeout - (time.monotonic() - began))
    prepare(cfg)
    result = process.run(argv, input=input, timeout=timeout, check=False)
    return _outcome(peer, argv, result.returncode, result.stdout, result.stderr)


def _outcome(peer: Node, argv: list, returncode: int, stdout: bytes, stderr: bytes, linked=False) -> bytes:
    if returncode == 0:
        return stdout
    tail = process.stderr_tail(stderr)
    refusal = protocol.find_refusal(stderr.decode("utf-8", "replace"))
    if refusal is not None:
        raise PeerRefused(peer.name, refusal)
    if returncode == 255 and not linked:
        raise PeerUnreachable(peer.name, tail or "no answer")
    raise CommandError(argv, returncode, tail)


def close(cfg: Config, peer: Node) -> None:
    """Ask the shared connection to the peer to end, so none is left behind.

    `-O stop`, not `-O exit`: the connection takes no new sessions (a new
    caller makes its own) and ends with the last one. `exit` ended it at
    once, under a request another fmirror command on this node was making
    through it (restore, started as the daemon suspended itself).
    """
    argv = ssh_argv(cfg) + ["-O", "stop", peer.address]
    process.run(argv, timeout=5, check=False)
