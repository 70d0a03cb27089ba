"""The watcher: from the kernel's inotify events to "these paths need pushing".

One inotify descriptor, one watch per mirrored directory, one daemon thread
that reads events and tells a sink what changed. The watches, the tree of
nodes they make and the walks that place them are watched.py's; this module
reads the events, pairs the halves of renames, and says what they mean.
"""

import logging
import math
import os
import select
import stat
import threading
import time
from collections.abc import Callable

from fmirror import inotify as ino
from fmirror.moves import MovedFrom, MovePairs
from fmirror.reach import Reach, Written
from fmirror.watched import Watched

log = logging.getLogger(__name__)

GONE_SELF = ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_UNMOUNT | ino.IN_IGNORED

# The two halves of one rename can straddle two reads: an unpaired
# IN_MOVED_FROM waits this long for its IN_MOVED_TO before it counts as a move out.
# A walk retries a directory it lost to a rename not read yet as long.
MOVE_GRACE = 0.015
ROOT_RETRY = 1.0  # seconds between attempts to watch a root that is missing


class Watcher:
    """Watches directory trees and tells a sink which paths need pushing.

    Sink methods must be cheap and never block. They are called one at a
    time, from the watcher's thread (or from start()'s caller before that
    thread runs). rel is bytes relative to roots[root]; b"" is the root.

    - changed(root, rel, reach, written): push rel (Reach.PATH), or a
      directory and all under it (Reach.TREE: moved in, or its attributes
      changed, which may have made it readable). A directory created under a
      watch is Reach.NEW_DIR: the walk that watches it reports each thing it
      holds, and its watch what comes after, so its push need not recurse.
      Non-directories, symlinks included (never followed), are Reach.PATH;
      written says whether a close is still to come.
    - deleted(root, rel): gone: deleted, moved out of every root, or renamed
      to an excluded name.
    - renamed(root, old, new, is_dir): a rename inside one root, neither name
      excluded. The consumer applies it, then pushes new and deletes old if
      it still exists, so nothing else is reported for this move: no
      changed(new), no deleted(old). Across two roots a move is
      deleted(old root, old) then changed(new root, new, TREE or PATH); from
      an excluded name it is changed(root, new, TREE or PATH) alone.
    - full_sync_needed(reason): events were or will be lost: the queue
      overflowed, a directory could not be watched (see unwatched), a root
      was deleted, moved or unmounted, or a missing root appeared.
    - caught_up(): every event read so far is handled, and the queue read
      empty: what was reported may be written out for others to read.

    excluded(root, rel, is_dir) leaves a path out of the mirror; excluded
    directories are not watched at all.
    """

    def __init__(self, roots: list[bytes], excluded: Callable[[int, bytes, bool], bool], sink):
        self._roots = [os.path.abspath(os.fsencode(r)) for r in roots]
        _refuse_nested(self._roots)
        self._excluded = excluded
        self._sink = sink
        # Created now, not in start(): the queue size limit is read at this moment.
        self._ino = ino.Inotify()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._moves = MovePairs()
        self._read_bytes = 0  # stream offset: bytes of events read so far
        self._event_at = 0  # stream offset of the event being dispatched
        self._grace_end = 0.0  # when an IN_MOVED_FROM of the current batch counts as a move out
        self._watched = Watched(self._roots, excluded, self._ino, self._horizon, disown=self._moves.disown,
                                root_moved=self._root_moved_in, unwatched=self._unwatchable,
                                lost_grace=MOVE_GRACE)
        self._next_root_retry = 0.0
        self._drain_waiters: list[threading.Event] = []
        self._drain_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def unwatched(self) -> int:
        """Directories that could not be watched (watch limit, permissions) since the last full walk."""
        return self._watched.unwatched

    def start(self) -> None:
        """Watch every directory under every root, then read events in a daemon thread."""
        for i, path in enumerate(self._roots):
            if not self._watched.watch_root(i):
                log.warning("mirrored root %s is missing: it will be watched as soon as it appears", _show(path))
        self._thread = threading.Thread(target=self._run, name="fmirror-watcher", daemon=True)
        self._thread.start()

    def drain(self, timeout: float) -> bool:
        """Return True once every event queued before this call has reached the sink; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        with self._drain_lock:
            self._drain_waiters.append(done)
        os.eventfd_write(self._wake, 1)
        return done.wait(timeout)

    def stop(self) -> None:
        """Stop the thread and close the inotify descriptor."""
        self._stopping = True
        if self._thread is not None:
            os.eventfd_write(self._wake, 1)
            self._thread.join()
            self._thread = None
        if self._wake >= 0:
            self._ino.close()
            os.close(self._wake)
            self._wake = -1

    # The thread ---------------------------------------------------------

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._ino.fileno(), select.POLLIN)
        poller.register(self._wake, select.POLLIN)
        while not self._stopping:
            poller.poll(self._poll_timeout_ms())
            try:
                self._cycle()
            except Exception:
                # Whatever state the tree is in now, a fresh walk and a full sync make it right.
                log.exception("watcher failed while handling events: re-watching every directory")
                self._resync("the watcher recovered from an internal error")

    def _cycle(self) -> None:
        try:
            os.eventfd_read(self._wake)
        except BlockingIOError:
            pass
        # Taken before reading: once the queue reads empty, everything queued
        # before these drain() calls has been dispatched.
        with self._drain_lock:
            waiters, self._drain_waiters = self._drain_waiters, []
        read = False
        while events := self._ino.read():
            read = True
            self._grace_end = time.monotonic() + MOVE_GRACE
            self._event_at = self._read_bytes
            self._read_bytes += sum(event.size for event in events)
            # A move still waiting for its pair looks at every event that follows it.
            redundant = ino.superseded(events) if not self._moves else [False] * len(events)
            for event, skip in zip(events, redundant):
                if not skip:
                    self._dispatch(event)
                self._event_at += event.size
        if read:
            self._sink.caught_up()
        now = time.monotonic()
        self._moved_out(lambda move: move.deadline <= now)
        for root, rel in self._watched.retry_lost():
            self._sink.changed(root, rel, Reach.TREE)  # unwatched until now: whatever it holds
        self._retry_roots()
        if self._moves or self._watched.lost:
            with self._drain_lock:
                self._drain_waiters[:0] = waiters
        else:
            for done in waiters:
                done.set()

    def _poll_timeout_ms(self) -> int | None:
        deadlines = [until for _, _, until in self._watched.lost]
        if self._moves:
            deadlines.append(self._moves.next_deadline())
        if None in self._watched.tops:
            deadlines.append(self._next_root_retry)
        if not deadlines:
            return None
        return max(0, math.ceil((min(deadlines) - time.monotonic()) * 1000))

    # Events -------------------------------------------------------------

    def _dispatch(self, event: ino.Event) -> None:
        if event.mask & ino.IN_Q_OVERFLOW:
            self._resync("the inotify event queue overflowed")
            return
        node = self._watched.tree.slot_of(event.wd)
        if node is None:
            return  # a watch already dropped: what it still reports is no longer ours
        if not event.name:
            self._on_self(node, event.mask)
            return
        where = self._watched.where(node)
        if where is None:
            return  # inside a directory that was moved away: it is reported as a whole
        root, dir_rel = where
        rel = dir_rel + b"/" + event.name if dir_rel else event.name
        is_dir = bool(event.mask & ino.IN_ISDIR)
        excluded = self._excluded(root, rel, is_dir)
        if self._moves and event.mask & (ino.IN_CREATE | ino.IN_MOVED_TO):
            # The name reappears while its move away is unpaired: that move went out, reported first.
            self._moved_out(lambda move: move.root == root and move.rel == rel)
        if event.mask & ino.IN_MOVED_FROM:
            moved = self._watched.current(node, event.name, self._event_at) if is_dir else None
            if moved is not None:
                self._watched.tree.unlink(moved)
                moved = self._watched.tree.ref(moved)
            self._moves.add(event.cookie, MovedFrom(root, rel, is_dir, excluded, moved, self._grace_end))
        elif event.mask & ino.IN_MOVED_TO:
            self._moved_to(self._moves.take(event.cookie), node, event.name, root, rel, is_dir, excluded)
        elif excluded:
            return
        elif event.mask & ino.IN_DELETE:
            if is_dir:
                self._watched.forget(self._watched.current(node, event.name, self._event_at))
            self._sink.deleted(root, rel)
        elif is_dir and event.mask & ino.IN_CREATE:
            # A node there already was placed by a walk that listed its parent after this
            # creation: it saw this directory (or what replaced it) and reported it.
            if self._watched.tree.child(node, event.name) is None:
                self._arrived(node, event.name, root, rel, created=True)
        elif is_dir:
            self._sink.changed(root, rel, Reach.TREE)
        else:
            self._sink.changed(root, rel, Reach.PATH, self._written(event.mask, root, rel))

    def _written(self, mask: int, root: int, rel: bytes) -> Written:
        """Whether a file is still open for writing after this event: its close comes later."""
        if mask & ino.IN_MODIFY:
            return Written.OPEN
        if mask & ino.IN_CREATE:
            # Created by open() unless it is a symlink, a device or a hard link to a closed file:
            # those get no close, so only a regular file with no other link waits for one.
            try:
                st = os.lstat(os.path.join(self._roots[root], rel))
            except OSError:
                return Written.CLOSED
            return Written.OPEN if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 else Written.CLOSED
        return Written.CLOSED

    def _on_self(self, node: int, mask: int) -> None:
        """An event about a watched directory itself; its parent reports all but the roots' and unmounts."""
        root = self._watched.root_of(node)
        if root is not None:
            if mask & GONE_SELF:
                what = "unmounted" if mask & ino.IN_UNMOUNT else "deleted or moved away"
                self._root_gone(root, what)
            elif mask & ino.IN_ATTRIB:
                self._sink.changed(root, b"", Reach.TREE)
        elif mask & ino.IN_UNMOUNT:
            self._resync("a filesystem inside a mirrored root was unmounted")
        elif mask & ino.IN_IGNORED:
            self._watched.forget(node)

    def _arrived(self, parent: int, name: bytes, root: int, rel: bytes, created: bool = False) -> None:
        """A directory appeared: watch it, then report it.

        Moved in, it is reported whole. Created, it was empty a moment before its
        watch: its walk reports each thing it found there, one by one, so that its
        push need not recurse into it and read the files still being written there
        (a 50 MB file sent half written, then again).
        """
        found = [] if created else None
        self._watched.walk(parent, name, root, rel, found=found)
        for found_rel, reach, written in found or [(rel, Reach.TREE, Written.CLOSED)]:
            self._sink.changed(root, found_rel, reach, written)

    def _moved_to(self, src: MovedFrom | None, parent: int, name: bytes,
                  root: int, rel: bytes, is_dir: bool, excluded: bool) -> None:
        if excluded:
            if src is not None:
                self._departed(src)
            return
        if src is None or src.excluded:
            if is_dir:
                self._arrived(parent, name, root, rel)
            else:
                self._sink.changed(root, rel, Reach.PATH)
            return
        tree = self._watched.tree
        moved = tree.deref(src.node)
        if moved is not None:
            occupant = tree.child(parent, name)
            if occupant is None or occupant == moved or tree.horizon(occupant) <= self._event_at:
                tree.link(moved, parent, name)
            else:
                # A later walk already put what is there now: src.node moved on
                # since, and the walk or rename that finds it will hang it back.
                tree.release(moved)
        elif is_dir:
            self._watched.walk(parent, name, root, rel)
        if src.root == root:
            self._sink.renamed(root, src.rel, rel, is_dir)
        else:
            self._sink.deleted(src.root, src.rel)
            self._sink.changed(root, rel, Reach.TREE if is_dir else Reach.PATH)

    def _departed(self, src: MovedFrom) -> None:
        # inotify follows an inode wherever it goes: a subtree moved out must be unwatched.
        self._watched.forget(self._watched.tree.deref(src.node))
        if not src.excluded:
            self._sink.deleted(src.root, src.rel)

    def _moved_out(self, which: Callable[[MovedFrom], bool]) -> None:
        """Settle the unpaired renames that `which` picks as moves out of the roots."""
        for move in self._moves.expire(which):
            self._departed(move)

    # Roots and full walks -----------------------------------------------

    def _root_gone(self, i: int, what: str, keep_node: bool = False) -> None:
        """Stop treating root i as watched; keep_node when its node now lives in another root's tree."""
        top, self._watched.tops[i] = self._watched.tops[i], None
        if not keep_node:
            self._watched.forget(top)
        self._next_root_retry = time.monotonic()  # at once: "mv new root" may already be done
        path = _show(self._roots[i])
        log.warning("mirrored root %s was %s: it will be watched again as soon as it exists", path, what)
        self._sink.full_sync_needed(f"mirrored root {path} was {what}")

    def _retry_roots(self) -> None:
        now = time.monotonic()
        if None not in self._watched.tops or now < self._next_root_retry:
            return
        self._next_root_retry = now + ROOT_RETRY
        for i, top in enumerate(self._watched.tops):
            if top is None and self._watched.watch_root(i):
                path = _show(self._roots[i])
                log.warning("mirrored root %s exists again and is watched", path)
                self._sink.full_sync_needed(f"mirrored root {path} appeared")

    def _resync(self, why: str) -> None:
        """Rebuild the whole tree from the disk, keeping watches that still apply, then ask for a full sync."""
        self._moves.clear()
        self._watched.rewatch()
        log.warning("%s: every directory was watched again, a full sync follows", why)
        self._sink.full_sync_needed(why)

    def _horizon(self) -> int:
        """The stream offset up to which events are queued now: those a walk begun now outdates."""
        return self._read_bytes + self._ino.queued_bytes()

    def _root_moved_in(self, i: int) -> None:
        # A root's own inode turned up inside a tree: the root was moved there.
        self._root_gone(i, "moved into another mirrored root", keep_node=True)

    def _unwatchable(self, count: int, failure: OSError) -> None:
        self._sink.full_sync_needed(f"{count} directories could not be watched ({failure.strerror})")


def _refuse_nested(roots: list[bytes]) -> None:
    # One inode, one watch: a directory in two roots would be claimed by both.
    ordered = sorted(roots)
    for outer, inner in zip(ordered, ordered[1:]):
        if inner == outer or inner.startswith(outer.rstrip(b"/") + b"/"):
            raise ValueError(f"mirrored roots overlap: {_show(outer)} and {_show(inner)}")


def _show(path: bytes) -> str:
    return path.decode(errors="backslashreplace")
