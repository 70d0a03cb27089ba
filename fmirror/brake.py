"""The mass-deletion brake: deletions on a slave beyond replication.max_delete wait for an operator.

rsync counts the deletions itself, on the slave. A push that may delete (a
listed path gone here, a listed directory whose contents it prunes, a full
reconciliation) first runs with --max-delete=0: it sends everything but the
deletions and says how many it skipped. When those, plus the deletions let
through on that path within the last WINDOW, stay within max_delete, the
same push runs again and deletes. Otherwise the brake engages for that slave
and path: every later push there runs with --max-delete=0, so new and
changed files keep flowing, and the pusher keeps the deleted paths queued,
held back. It lets go when an operator runs `fmirror release-brake` (the
paused deletions go through once), or when a full reconciliation finds
nothing left to delete (the files were restored on the master).
"""

import os
import stat
import threading
import time
from dataclasses import asdict, dataclass

from fmirror import rsync
from fmirror.errors import Error

# Deletions let through on one path within this many seconds count together:
# a deletion spread over many small pushes (ransomware goes file by file) brakes too.
WINDOW = 60.0


def over_limit(deletes: int, recent: int, limit: int, allowance: int = 0) -> bool:
    """Would `deletes` more deletions, after `recent` within the window, pass the limit (raised by a release)?"""
    return deletes + recent > limit + allowance


@dataclass
class Engaged:
    path: str
    deletes: int          # deletions paused on this path, as rsync counted them
    since: float          # wall clock
    held: bool = False    # queued deletions are held back (else only a full reconciliation knows them)


def deletions(root: str, rels) -> tuple:
    """(listed paths gone here, whether a listed path is a directory): what a batch push may delete on a slave."""
    base = os.fsencode(root)
    gone, dirs = [], False
    for rel in rels:
        try:
            dirs = stat.S_ISDIR(os.lstat(os.path.join(base, rel) if rel else base).st_mode) or dirs
        except (FileNotFoundError, NotADirectoryError):
            gone.append(rel)
    return gone, dirs


class Blocked(Error):
    """a change under {} needs a deletion the brake holds (a folder replaced by a file?): retried until release-brake"""


def _counted(result) -> tuple:
    """(deletions the limit skipped, whether something else could not be made for want of one)."""
    skipped = rsync.skipped_deletions(result.stderr + result.stdout)
    return skipped, rsync.interpret(result.returncode, False, skipped) is rsync.Outcome.BLOCKED


class Guard:
    """One slave's brake over its mirrored paths: pushes run on the pusher's thread, release on the control's."""

    def __init__(self, limit: int, on_engaged=None, clock=time.monotonic, wall=time.time):
        self.limit = limit
        self.on_engaged = on_engaged or (lambda engaged: None)
        self.clock, self.wall = clock, wall
        self.lock = threading.Lock()
        self.engaged = {}     # path -> Engaged
        self.passed = {}      # path -> [(clock, deletions let through)]
        self.allowance = {}   # path -> deletions an operator released and not yet done

    def push(self, path: str, run, may_delete: bool = True, full: bool = False) -> bool:
        """Run one push of path through the brake: True when its deletions are done, False when held back.

        run(extra rsync options) runs the push and returns rsync's result; it raises for failures, but
        not for what a --max-delete limit explains (rsync.interpret: OK or BLOCKED).
        Raises Blocked when the brake holds a deletion something else needs: nothing is acknowledged then.
        """
        if not self.limit or not may_delete:
            run([])
            return True
        first, blocked = _counted(run(["--max-delete=0"]))
        engaged = None
        with self.lock:
            if not first:
                if full:   # nothing left to delete on the slave: the master was fixed, or it is done
                    self.engaged.pop(path, None)
                    self.allowance.pop(path, None)
                return True
            current = self.engaged.get(path)
            if current is not None and not blocked:   # a blocked push comes again: counted once
                current.deletes = first if full else current.deletes + first
            recent, allowance = self._recent(path), self.allowance.get(path, 0)
            if current is None and over_limit(first, recent, self.limit, allowance):
                engaged = self._engage(path, first)
            budget = self.limit + allowance - recent
        if engaged is not None:
            self.on_engaged(engaged)
        if current is not None or engaged is not None:
            if blocked:
                raise Blocked(path)
            return False
        # The same push again, deleting; the budget stops it should more deletions have appeared meanwhile.
        second, blocked = _counted(run([f"--max-delete={budget}"]))
        with self.lock:
            if second:
                engaged = self._engage(path, budget + second)
            else:
                self._let_through(path, first, full)
        if engaged is None:
            return True
        self.on_engaged(engaged)
        if blocked:
            raise Blocked(path)
        return False

    def _engage(self, path, deletes) -> Engaged:
        engaged = Engaged(path, deletes, self.wall())
        self.engaged[path] = engaged
        return engaged

    def _recent(self, path) -> int:
        horizon = self.clock() - WINDOW
        kept = [(t, n) for t, n in self.passed.get(path, ()) if t > horizon]
        self.passed[path] = kept
        return sum(n for _, n in kept)

    def _let_through(self, path, deletes, full):
        allowance = self.allowance.get(path, 0)
        if allowance:   # released by an operator: they do not count against later deletions
            self.allowance[path] = max(0, allowance - deletes)
        else:
            self.passed.setdefault(path, []).append((self.clock(), deletes))
        if full:        # the reconciliation a release asks for is done: what is left of it lapses
            self.allowance.pop(path, None)

    def set_held(self, path: str, held: bool) -> None:
        """Whether the engaged brake of path holds queued deletions."""
        with self.lock:
            if path in self.engaged:
                self.engaged[path].held = held

    def held_paths(self) -> list:
        """The paths whose brake holds queued deletions."""
        with self.lock:
            return [e.path for e in self.engaged.values() if e.held]

    def release(self) -> list:
        """Let every paused deletion through once; returns what was engaged (as dicts)."""
        with self.lock:
            released = list(self.engaged.values())
            for e in released:
                self.allowance[e.path] = self.allowance.get(e.path, 0) + e.deletes
                self.passed.pop(e.path, None)
            self.engaged.clear()
        return [asdict(e) for e in released]

    def status(self) -> list:
        """Every engaged brake, oldest first, as dicts {path, deletes, since, held}."""
        with self.lock:
            return [asdict(e) for e in sorted(self.engaged.values(), key=lambda e: e.since)]
