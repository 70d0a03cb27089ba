"""Rename halves waiting for their pair: the watcher's IN_MOVED_FROM events by cookie.

inotify reports a rename as two events sharing a cookie, which can straddle
two reads. An unpaired IN_MOVED_FROM waits until its deadline (the watcher's
grace) for its IN_MOVED_TO; past it, or when its name is used again, it
counts as a move out of the roots.
"""

from collections.abc import Callable
from typing import NamedTuple


class MovedFrom(NamedTuple):
    root: int
    rel: bytes
    is_dir: bool
    excluded: bool
    node: int | None  # Tree.ref of a watched directory's subtree, detached until the pair shows up
    deadline: float


class MovePairs:
    def __init__(self):
        self._waiting: dict[int, MovedFrom] = {}

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def add(self, cookie: int, move: MovedFrom) -> None:
        self._waiting[cookie] = move

    def take(self, cookie: int) -> MovedFrom | None:
        """The IN_MOVED_FROM this IN_MOVED_TO pairs with; None when it came from outside the roots."""
        return self._waiting.pop(cookie, None)

    def expire(self, which: Callable[[MovedFrom], bool]) -> list[MovedFrom]:
        """Take out, in the order they came, the ones `which` picks: moves out, no pair will come."""
        gone = [cookie for cookie, move in self._waiting.items() if which(move)]
        return [self._waiting.pop(cookie) for cookie in gone]

    def next_deadline(self) -> float | None:
        return min((move.deadline for move in self._waiting.values()), default=None)

    def clear(self) -> None:
        """Forget every move waiting for its pair: a full walk follows, which sees where all went."""
        self._waiting.clear()

    def disown(self, ref: int) -> None:
        """A walk found this subtree on disk: a move out must no longer unwatch it."""
        for cookie, move in self._waiting.items():
            if move.node == ref:
                self._waiting[cookie] = move._replace(node=None)
