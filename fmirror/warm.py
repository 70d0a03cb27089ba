"""Pushes opened ahead: the process starts of a push paid before the change comes, admitted only when it is sent.

A push costs the slave a process start before any data moves: sshd runs the
forced command, a Python program (~10 ms) that hands the session to the
daemon. The master's pusher therefore opens the next push of a root while
the current one runs: rsync, ssh and the forced command start, and the
slave's daemon parks the session (Parking) without starting its receiver.
When a change comes, the pusher says "go" with the session's ticket over its
link (serve.serve_go) and writes the file list.

Nothing is admitted early: the parked push is checked for role and epoch
(serve._admit_write) when the go arrives, exactly as a push that came then,
and the receiving rsync starts only after that, so the fencing rules hold as
for any push. Only the daemon parks; the full `fmirror serve` refuses a
ticket, and the master pushes the ordinary way (cold) whenever a session
opened ahead is not there, not usable or not accepted: this only ever saves
time.
"""

import logging
import os
import threading
import time

from fmirror import process

log = logging.getLogger(__name__)

# The slave holds a parked push this long: within rsync's --timeout (30 s), so that the
# waiting sender never times out first.
PARK_TIMEOUT = 25.0
# The master uses a session only while the slave surely still holds it; older ones are closed.
MAX_AGE = 20.0
# A go may come before the forced command parked the session (it was opened a moment ago).
GO_WAIT = 0.5
# A session opened ahead that died unused (the slave's daemon down, or its config being
# edited): pushes go the ordinary way this long before the next is opened.
RETRY_AFTER = 60.0


def new_ticket() -> str:
    # os.urandom, not secrets: serve.py imports this module, and the forced command each import.
    return os.urandom(16).hex()


def valid_ticket(ticket: str) -> bool:
    return len(ticket) == 32 and all(c in "0123456789abcdef" for c in ticket)


class Parking:
    """The slave daemon's parked pushes, each waiting for its sender's go."""

    def __init__(self):
        self.cond = threading.Condition()
        self.waiting = {}     # (sender, ticket) -> threading.Event

    def park(self, sender: str, ticket: str, timeout: float = PARK_TIMEOUT) -> bool:
        """Block the push until go(sender, ticket): True, or False when none came in time."""
        key, event = (sender, ticket), threading.Event()
        with self.cond:
            if key in self.waiting:
                return False
            self.waiting[key] = event
            self.cond.notify_all()
        event.wait(timeout)
        with self.cond:
            self.waiting.pop(key, None)
            return event.is_set()     # a go that came just as the wait ended still counts

    def go(self, sender: str, ticket: str, wait: float = GO_WAIT) -> bool:
        """Release the parked push; False when there is none (after waiting a moment for it to park)."""
        key, deadline = (sender, ticket), time.monotonic() + wait
        with self.cond:
            while key not in self.waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            self.waiting.pop(key).set()
            return True

    def count(self) -> int:
        with self.cond:
            return len(self.waiting)


class Opened:
    """The master's side for one slave: at most one push opened ahead per root."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = {}     # root index -> (cold argv, proc, ticket, opened at)
        self.failed_at = None

    def take(self, index: int, argv: list):
        """(proc, ticket) of a session opened for exactly this command line, or None; it is the caller's."""
        with self.lock:
            session = self.sessions.pop(index, None)
        if session is None:
            return None
        cold, proc, ticket, opened = session
        age = time.monotonic() - opened
        if cold != argv or age > MAX_AGE or proc.poll() is not None:
            if proc.poll() is not None and age < MAX_AGE:
                self.failed(f"a push opened ahead ended unused after {age:.1f} s (exit {proc.returncode})")
            close(proc)
            return None
        return proc, ticket

    def open(self, index: int, argv: list, ticketed) -> None:
        """Open the next push of a root; ticketed(ticket) -> its command line (argv with the ticket)."""
        if self.failed_at is not None and time.monotonic() - self.failed_at < RETRY_AFTER:
            return
        ticket = new_ticket()
        proc = process.spawn(ticketed(ticket), stdin=process.PIPE, stdout=process.PIPE, stderr=process.PIPE)
        with self.lock:
            old = self.sessions.pop(index, None)
            self.sessions[index] = (argv, proc, ticket, time.monotonic())
        if old is not None:
            close(old[1])

    def failed(self, why: str) -> None:
        if self.failed_at is None or time.monotonic() - self.failed_at >= RETRY_AFTER:
            log.info("%s: pushes go the ordinary way for %g s", why, RETRY_AFTER)
        self.failed_at = time.monotonic()

    def close(self) -> None:
        with self.lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for _, proc, _, _ in sessions:
            close(proc)


def close(proc) -> None:
    """Stop a session opened ahead that will not be used: no go came, so nothing was received."""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:
            pass
    process.stop(proc, grace=1.0)
