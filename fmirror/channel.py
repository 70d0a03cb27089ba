"""Where a request to `fmirror serve` comes from and answers to, and how rsync starts on it.

The forced command's own stdio (own()): rsync replaces the process, as
sshd started it. The stdio the daemon was handed for the request (handed(),
see resident.py): rsync runs as the daemon's child on those descriptors,
and its exit status becomes the request's. Or one request inside a link
(captured()): its input and answers are parts of a line.

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
    # (argv, receive lock fd or None) -> rsync's exit status; own(): never returns.
    start: Callable

    def answer(self, data) -> None:
        self.stdout.write(json.dumps(data).encode())
        self.stdout.flush()

    def say(self, line: str) -> None:
        self.stderr.write(line.encode("utf-8", "replace") + b"\n")
        self.stderr.flush()

    def become(self, argv: list, lock_fd: int | None = None) -> int:
        """Run rsync on this channel; lock_fd (a receive) stays held until rsync exits."""
        return self.start(argv, lock_fd)


def own(cfg: Config) -> Channel:
    def start(argv, lock_fd):
        if lock_fd is not None:
            os.set_inheritable(lock_fd, True)
            register(cfg, os.getpid())     # the rsync we become keeps this pid
        process.exec_replace(argv)
    return Channel(sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer, start)


def handed(cfg: Config, fds: tuple, umask: int, on_start=None) -> Channel:
    """A channel on descriptors (stdin, stdout, stderr) another process passed us; closed by close()."""
    stdin, stdout, stderr = (os.fdopen(fd, mode) for fd, mode in zip(fds, ("rb", "wb", "wb")))

    def start(argv, lock_fd):
        # Flushed first: what was said must come before rsync's own output.
        stdout.flush()
        stderr.flush()
        proc = process.attach(argv, (stdin.fileno(), stdout.fileno(), stderr.fileno()),
                              keep=() if lock_fd is None else (lock_fd,), umask=umask)
        # Ours closed at once: the ssh session ends when rsync's copies close, not ours.
        for f in (stdin, stdout, stderr):
            f.close()
        if lock_fd is not None:
            os.close(lock_fd)              # rsync's copy holds the lock now
            register(cfg, proc.pid)
        if on_start is not None:
            on_start(proc)
        try:
            return proc.wait()
        finally:
            if lock_fd is not None:
                unlink(os.path.join(receivers_dir(cfg), str(proc.pid)))
    return Channel(stdin, stdout, stderr, start)


def captured(data: bytes | None) -> Channel:
    """A request inside a link (serve.serve_link): stdin from the line, answers kept for the line back."""
    def start(argv, lock_fd):
        raise RuntimeError("rsync cannot run inside a link")   # protocol.LINKED has no push or pull
    return Channel(io.BytesIO(data or b""), io.BytesIO(), io.BytesIO(), start)


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
