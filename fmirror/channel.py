"""Where a request to `fmirror serve` comes from and answers to, and how rsync starts on it.

The forced command's own stdio (own()): rsync replaces the process, as
sshd started it. The stdio the daemon was handed for the request (handed(),
see resident.py): the daemon admits the request, and the forced command
that handed it becomes rsync (handoff.py), as in own(). Or one request
inside a link (captured()): its input and answers are parts of a line.

Either way a receiving rsync is listed in state_dir/receivers/ by pid, so a
promotion can stop a receive whose sender died instead of waiting on it.
"""

import io
import json
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO, Callable

from fmirror import process
from fmirror.config.model import Config


@dataclass
class Channel:
    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO
    # become(argv, lock_fd=None): rsync runs on this channel, and lock_fd (a receive's)
    # stays held until it exits. own(): never returns; handed(): returns when rsync ended.
    become: Callable
    # The daemon's parked pushes (warm.Parking): only a request the daemon serves has them.
    parking: object = None
    # The daemon itself, likewise: report() (its state answer, see serve.serve_state) and
    # peer_rejoined(name) (a request it serves needs no socket to itself, see serve._local),
    # and heard(report) (what the asking peer said of itself, see protocol.py).
    daemon: object = None
    # The request's whole input when it came with the request (a link's line); None where
    # reading stdin would wait on the peer.
    input: bytes | None = None

    def answer(self, data) -> None:
        self.stdout.write(json.dumps(data).encode())
        self.stdout.flush()

    def say(self, line: str) -> None:
        self.stderr.write(line.encode("utf-8", "replace") + b"\n")
        self.stderr.flush()


def own(cfg: Config) -> Channel:
    def become(argv, lock_fd=None):
        if lock_fd is not None:
            os.set_inheritable(lock_fd, True)
            register(cfg, os.getpid())     # the rsync we become keeps this pid
        process.exec_replace(argv)
    return Channel(sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer, become)


def handed(cfg: Config, fds: tuple, requester, parking=None, daemon=None) -> Channel:
    """A channel on descriptors (stdin, stdout, stderr) another process passed us; closed by close().

    requester: the process that passed them (resident.Requester), which runs rsync.
    """
    stdin, stdout, stderr = (os.fdopen(fd, mode) for fd, mode in zip(fds, ("rb", "wb", "wb")))

    def become(argv, lock_fd=None):
        # Flushed first: what was said must come before rsync's own output.
        stdout.flush()
        stderr.flush()
        listed = os.path.join(receivers_dir(cfg), str(requester.pid))
        try:
            if lock_fd is not None:
                register(cfg, requester.pid)
            try:
                requester.run(argv, lock_fd)
            finally:
                # Ours closed at once: the ssh session ends when rsync's copies close, and the
                # lock is rsync's to hold (or nobody's, if it did not start: a daemon that kept
                # it would block every role change).
                for f in (stdin, stdout, stderr):
                    f.close()
                if lock_fd is not None:
                    os.close(lock_fd)
            requester.wait()
        finally:
            if lock_fd is not None:
                unlink(listed)
        return 0       # never the request's status: rsync's goes to sshd itself
    return Channel(stdin, stdout, stderr, become, parking, daemon)


def captured(data: bytes | None, parking=None, daemon=None) -> Channel:
    """A request inside a link (serve.serve_link): stdin from the line, answers kept for the line back."""
    def become(argv, lock_fd=None):
        raise RuntimeError("rsync cannot run inside a link")   # protocol.LINKED has no push or pull
    return Channel(io.BytesIO(data or b""), io.BytesIO(), io.BytesIO(), become, parking, daemon, data)


def close(chan: Channel) -> None:
    for f in (chan.stdin, chan.stdout, chan.stderr):
        if not f.closed:
            f.close()


def receivers_dir(cfg: Config) -> str:
    return os.path.join(cfg.state_dir, "receivers")


def register(cfg: Config, pid: int) -> None:
    """List a receiving rsync; files of receivers that ended are cleared on the way."""
    folder = receivers_dir(cfg)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name in os.listdir(folder):
        if not name.isdigit() or not _alive(int(name)):
            unlink(os.path.join(folder, name))
    open(os.path.join(folder, str(pid)), "w").close()


def unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _alive(pid: int) -> bool:
    # Not psutil: importing it costs the forced command more than the check itself.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
