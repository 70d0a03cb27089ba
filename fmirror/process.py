"""The one module that starts processes: argv lists only, never a shell.

File names are data: they travel as argv elements or on stdin, never through
a shell's parser. One exec happens elsewhere, by the same rule: the forced
command's fast path becomes the rsync its daemon admitted (handoff.py),
before it imports anything this module does.
"""

import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass

from fmirror.errors import CommandError, CommandTimeout, Error

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 5
PIPE, DEVNULL = subprocess.PIPE, subprocess.DEVNULL   # for spawn()'s callers
CANCEL_POLL = 0.2


class Cancelled(Error):
    """{} was stopped: fmirror is shutting down"""


@dataclass
class Result:
    argv: list
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def stderr_tail(stderr: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    """The last lines of a command's stderr, joined on one line for a log or an error."""
    text = stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def run(argv, *, input=None, timeout=None, check=True, env=None, ok_codes=(0,), cwd=None,
        cancel=None) -> Result:
    """Run argv to completion; raise CommandError unless its status is in ok_codes.

    cancel: a threading.Event; when it is set the command is stopped and
    Cancelled raised, so a daemon that stops leaves no child behind.
    """
    argv = [os.fspath(a) if not isinstance(a, (str, bytes)) else a for a in argv]
    log.debug("run: %s", _show(argv))
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise CommandError(argv, 127, f"{_name(argv[0])}: command not found") from None
    result = finish(proc, input=input, timeout=timeout, cancel=cancel)
    if check and proc.returncode not in ok_codes:
        raise CommandError(argv, proc.returncode, stderr_tail(result.stderr))
    return result


def finish(proc: subprocess.Popen, *, input=None, timeout=None, cancel=None) -> Result:
    """Feed a started process its input and wait for it (run's second half; spawn() with pipes first)."""
    try:
        out, err = _communicate(proc, input, timeout, cancel)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise CommandTimeout(_name(proc.args[0]), timeout) from None
    except BaseException:
        stop(proc)
        raise
    return Result(proc.args, proc.returncode, out, err)


def _communicate(proc, input, timeout, cancel):
    if cancel is None:
        return proc.communicate(input, timeout=timeout)
    # One communicate() call: a retried one never sends the rest of a large input
    # (CPython registers stdin only when input is passed, and refuses it on a retry).
    # Cancelling is a guard thread's job: it signals the child, communicate() returns.
    finished = threading.Event()
    guard = threading.Thread(target=_cancel_guard, args=(proc, cancel, finished), daemon=True)
    guard.start()
    try:
        out, err = proc.communicate(input, timeout=timeout)
    finally:
        finished.set()
    if cancel.is_set():
        raise Cancelled(_name(proc.args[0]))
    return out, err


def _cancel_guard(proc, cancel, finished):
    while not finished.is_set():
        if cancel.wait(CANCEL_POLL) and not finished.is_set():
            for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0)):
                try:
                    os.kill(proc.pid, sig)
                except ProcessLookupError:
                    return
                if finished.wait(grace):
                    return
            return


def spawn(argv, *, stdin=subprocess.DEVNULL, stdout=None, stderr=None, env=None, cwd=None,
          new_session=True) -> subprocess.Popen:
    """Start a long-running process; the caller owns it and must stop() it."""
    argv = [os.fspath(a) if not isinstance(a, (str, bytes)) else a for a in argv]
    log.debug("spawn: %s", _show(argv))
    try:
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                cwd=cwd, start_new_session=new_session)
    except FileNotFoundError:
        raise CommandError(argv, 127, f"{_name(argv[0])}: command not found") from None


def stop(proc: subprocess.Popen, grace: float = 3.0) -> int:
    """Stop a child in stages: SIGTERM, wait, SIGKILL. Returns its exit status."""
    if proc.poll() is not None:
        return proc.returncode
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def exec_replace(argv, env=None):
    """Replace this process with argv (used by the ssh forced command)."""
    log.debug("exec: %s", _show(argv))
    if env is None:
        os.execvp(argv[0], argv)
    os.execvpe(argv[0], argv, env)


def _name(arg) -> str:
    return os.fsdecode(arg) if isinstance(arg, bytes) else str(arg)


def _show(argv) -> str:
    return " ".join(_name(a) for a in argv)
