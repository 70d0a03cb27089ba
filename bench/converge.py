"""When has the slave caught up: a cheap poll while the tools work, a full compare after.

Polling with a full tree walk would steal a core from the tools on a small
machine; instead the expected files are checked in order and a pass stops at
the first one not there yet, so each pass costs about what arrived since the
last one. Tools write through a temporary name and rename, so a file with
the expected name and size is complete.
"""

import os
import time
from pathlib import Path

from fmirror.errors import Failed
from fmirror.lab import trees

# The resolution of every time measured here: a rename or one small file takes a tool tens of ms.
POLL = 0.005
COMPARE_TIMEOUT = 20     # a tool may still be setting mtimes when the last file arrived
COMPARE_POLL = 0.5
DIFFERENCES_SHOWN = 3


class Arrivals:
    def __init__(self, root: Path, expected: dict, gone=()):
        self.root = root
        self.pending = sorted(expected.items())
        self.gone = [root / rel for rel in gone]
        self._next = 0

    def complete(self) -> bool:
        while self._next < len(self.pending):
            rel, size = self.pending[self._next]
            try:
                if os.stat(self.root / rel).st_size != size:
                    return False
            except FileNotFoundError:
                return False
            self._next += 1
        return not any(path.exists() for path in self.gone)

    @property
    def left(self) -> int:
        return len(self.pending) - self._next


def wait_arrived(slave_root: Path, expected: dict, timeout: float, gone=()) -> float:
    """Poll until every expected file is on the slave and every gone path is not; when (monotonic)."""
    arrivals = Arrivals(slave_root, expected, gone)
    deadline = time.monotonic() + timeout
    while not arrivals.complete():
        if time.monotonic() > deadline:
            raise Failed(f"slave still misses {arrivals.left} of {len(expected)} files after {timeout:g} s")
        time.sleep(POLL)
    return time.monotonic()


def verify(master_root: Path, slave_root: Path) -> list:
    """Full compare (content, modes, mtimes, owners): what still differs once settled, [] if nothing.

    A difference is reported beside the tool's numbers, not instead of them.
    """
    deadline = time.monotonic() + COMPARE_TIMEOUT
    while True:
        diffs = trees.differences(trees.snapshot(master_root), trees.snapshot(slave_root),
                                  limit=DIFFERENCES_SHOWN)
        if not diffs or time.monotonic() > deadline:
            return diffs
        time.sleep(COMPARE_POLL)
