"""The watcher: from the kernel's inotify events to "these paths need pushing".

One inotify descriptor, one watch per mirrored directory, one daemon thread
that reads events and tells a sink what changed. Watched directories form a
tree of nodes (tree.py: slots in arrays) that mirrors the real one, so a
directory rename is one re-link whatever the size of its subtree, and a path
is rebuilt from the node chain only when an event needs it.

A walk lists the disk as it is now, while queued events tell its past. Each
node placed by a walk remembers its horizon: the stream offset up to which
events were already queued when the walk began. An older event must not move
or drop that node (it describes what the walk already saw the outcome of),
and nodes are only dropped when the kernel says so (IN_IGNORED) or when they
leave the roots: a node displaced by a walk is detached, kept watched, and
hung back by the walk or rename that finds it.
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
from fmirror.leaves import Leaves
from fmirror.moves import MovedFrom, MovePairs
from fmirror.reach import Reach, Written
from fmirror.tree import Tree

log = logging.getLogger(__name__)

DIR_MASK = (
    ino.IN_CREATE | ino.IN_CLOSE_WRITE | ino.IN_MODIFY | ino.IN_ATTRIB | ino.IN_DELETE
    | ino.IN_DELETE_SELF | ino.IN_MOVED_FROM | ino.IN_MOVED_TO | ino.IN_MOVE_SELF
    | ino.IN_DONT_FOLLOW | ino.IN_ONLYDIR | ino.IN_EXCL_UNLINK
)
# A root given as a symlink is followed, as rsync follows "root/".
ROOT_MASK = DIR_MASK & ~ino.IN_DONT_FOLLOW
GONE_SELF = ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_UNMOUNT | ino.IN_IGNORED

# The two halves of one rename can straddle two reads: an unpaired
# IN_MOVED_FROM waits this long for its IN_MOVED_TO before it counts as a move out.
MOVE_GRACE = 0.015
ROOT_RETRY = 1.0  # seconds between attempts to watch a root that is missing
WARNING_INTERVAL = 60.0


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
        self._tree = Tree()
        self._leaves = Leaves()
        self._tops: list[int | None] = [None] * len(self._roots)  # each root's top node
        self._moves = MovePairs()
        self._read_bytes = 0  # stream offset: bytes of events read so far
        self._event_at = 0  # stream offset of the event being dispatched
        self._grace_end = 0.0  # when an IN_MOVED_FROM of the current batch counts as a move out
        # (Tree.ref of parent, name, until): directories a walk could not find by path, retried until then
        self._lost_walks: list[tuple[int, bytes, float]] = []
        self._unwatched = 0
        self._last_warning = -math.inf
        self._next_root_retry = 0.0
        self._drain_waiters: list[threading.Event] = []
        self._drain_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def unwatched(self) -> int:
        """Directories that could not be watched (watch limit, permissions) since the last full walk."""
        return self._unwatched

    def start(self) -> None:
        """Watch every directory under every root, then read events in a daemon thread."""
        for i, path in enumerate(self._roots):
            if not self._watch_root(i):
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
        self._retry_lost_walks()
        self._retry_roots()
        if self._moves or self._lost_walks:
            with self._drain_lock:
                self._drain_waiters[:0] = waiters
        else:
            for done in waiters:
                done.set()

    def _poll_timeout_ms(self) -> int | None:
        deadlines = [until for _, _, until in self._lost_walks]
        if self._moves:
            deadlines.append(self._moves.next_deadline())
        if None in self._tops:
            deadlines.append(self._next_root_retry)
        if not deadlines:
            return None
        return max(0, math.ceil((min(deadlines) - time.monotonic()) * 1000))

    # Events -------------------------------------------------------------

    def _dispatch(self, event: ino.Event) -> None:
        if event.mask & ino.IN_Q_OVERFLOW:
            self._resync("the inotify event queue overflowed")
            return
        node = self._tree.slot_of(event.wd)
        if node is None:
            return  # a watch already dropped: what it still reports is no longer ours
        if not event.name:
            self._on_self(node, event.mask)
            return
        where = self._where(node)
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
            moved = self._current(node, event.name) if is_dir else None
            if moved is not None:
                self._tree.unlink(moved)
                moved = self._tree.ref(moved)
            self._moves.add(event.cookie, MovedFrom(root, rel, is_dir, excluded, moved, self._grace_end))
        elif event.mask & ino.IN_MOVED_TO:
            self._moved_to(self._moves.take(event.cookie), node, event.name, root, rel, is_dir, excluded)
        elif excluded:
            return
        elif event.mask & ino.IN_DELETE:
            if is_dir:
                self._forget(self._current(node, event.name))
            self._sink.deleted(root, rel)
        elif is_dir and event.mask & ino.IN_CREATE:
            # A node there already was placed by a walk that listed its parent after this
            # creation: it saw this directory (or what replaced it) and reported it.
            if self._tree.child(node, event.name) is None:
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
        root = self._root_of(node)
        if root is not None:
            if mask & GONE_SELF:
                what = "unmounted" if mask & ino.IN_UNMOUNT else "deleted or moved away"
                self._root_gone(root, what)
            elif mask & ino.IN_ATTRIB:
                self._sink.changed(root, b"", Reach.TREE)
        elif mask & ino.IN_UNMOUNT:
            self._resync("a filesystem inside a mirrored root was unmounted")
        elif mask & ino.IN_IGNORED:
            self._forget(node)

    def _arrived(self, parent: int, name: bytes, root: int, rel: bytes, created: bool = False) -> None:
        """A directory appeared: watch it, then report it.

        Moved in, it is reported whole. Created, it was empty a moment before its
        watch: its walk reports each thing it found there, one by one, so that its
        push need not recurse into it and read the files still being written there
        (a 50 MB file sent half written, then again).
        """
        found = [] if created else None
        self._watch_tree(parent, name, root, rel, found=found)
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
        moved = self._tree.deref(src.node)
        if moved is not None:
            occupant = self._tree.child(parent, name)
            if occupant is None or occupant == moved or self._tree.horizon(occupant) <= self._event_at:
                self._tree.link(moved, parent, name)
            else:
                # A later walk already put what is there now: src.node moved on
                # since, and the walk or rename that finds it will hang it back.
                self._tree.release(moved)
        elif is_dir:
            self._watch_tree(parent, name, root, rel)
        if src.root == root:
            self._sink.renamed(root, src.rel, rel, is_dir)
        else:
            self._sink.deleted(src.root, src.rel)
            self._sink.changed(root, rel, Reach.TREE if is_dir else Reach.PATH)

    def _departed(self, src: MovedFrom) -> None:
        # inotify follows an inode wherever it goes: a subtree moved out must be unwatched.
        self._forget(self._tree.deref(src.node))
        if not src.excluded:
            self._sink.deleted(src.root, src.rel)

    def _retry_lost_walks(self) -> None:
        lost, self._lost_walks = self._lost_walks, []
        for parent_ref, name, until in lost:
            parent = self._tree.deref(parent_ref)
            where = self._where(parent) if parent is not None else None
            if where is None or self._tree.child(parent, name) is not None:
                continue  # its parent left the roots, or something else put it in place
            root, parent_rel = where
            rel = parent_rel + b"/" + name if parent_rel else name
            if not self._excluded(root, rel, True) and self._watch_tree(parent, name, root, rel, until) is not None:
                self._sink.changed(root, rel, Reach.TREE)  # unwatched until now: whatever it holds

    def _moved_out(self, which: Callable[[MovedFrom], bool]) -> None:
        """Settle the unpaired renames that `which` picks as moves out of the roots."""
        for move in self._moves.expire(which):
            self._departed(move)

    # Roots and full walks -----------------------------------------------

    def _watch_root(self, i: int) -> bool:
        return self._watch_tree(None, b"", i, b"") is not None

    def _root_gone(self, i: int, what: str, keep_node: bool = False) -> None:
        """Stop treating root i as watched; keep_node when its node now lives in another root's tree."""
        top, self._tops[i] = self._tops[i], None
        if not keep_node:
            self._forget(top)
        self._next_root_retry = time.monotonic()  # at once: "mv new root" may already be done
        path = _show(self._roots[i])
        log.warning("mirrored root %s was %s: it will be watched again as soon as it exists", path, what)
        self._sink.full_sync_needed(f"mirrored root {path} was {what}")

    def _retry_roots(self) -> None:
        now = time.monotonic()
        if None not in self._tops or now < self._next_root_retry:
            return
        self._next_root_retry = now + ROOT_RETRY
        for i, top in enumerate(self._tops):
            if top is None and self._watch_root(i):
                path = _show(self._roots[i])
                log.warning("mirrored root %s exists again and is watched", path)
                self._sink.full_sync_needed(f"mirrored root {path} appeared")

    def _resync(self, why: str) -> None:
        """Rebuild the whole tree from the disk, keeping watches that still apply, then ask for a full sync."""
        stale = self._tree
        self._tree, self._tops, self._moves, self._lost_walks = Tree(), [None] * len(self._roots), MovePairs(), []
        self._unwatched = 0
        for i in range(len(self._roots)):
            self._watch_root(i)
        for wd in stale.wds():
            if self._tree.slot_of(wd) is None:
                self._ino.rm_watch(wd)
        log.warning("%s: every directory was watched again, a full sync follows", why)
        self._sink.full_sync_needed(why)

    # The tree -----------------------------------------------------------

    def _watch_tree(self, parent: int | None, name: bytes, root: int, rel: bytes,
                    until: float | None = None, found: list | None = None) -> int | None:
        """Watch a directory and every directory under it; return its node, None if it is not there.

        Each directory is watched before it is listed: an entry created
        meanwhile is either listed or reported by the new watch. One that is
        not found may just have a stale path (an ancestor renamed by an event
        not read yet): it is tried again until `until`, a short grace by default.
        found: gets (rel, Reach, Written) of every directory placed and every
        other entry listed, the top included.
        """
        top, failure, failed = None, None, 0
        horizon = self._read_bytes + self._ino.queued_bytes()
        until = until or time.monotonic() + MOVE_GRACE
        stack = [(parent, name, os.path.join(self._roots[root], rel), rel)]
        while stack:
            parent, name, path, rel = stack.pop()
            try:
                wd = self._ino.add_watch(path, DIR_MASK if parent is not None else ROOT_MASK)
            except ino.WatchTargetGone:
                if parent is not None and time.monotonic() < until:
                    self._lost_walks.append((self._tree.ref(parent), name, until))
                continue
            except OSError as err:
                # Still listed: its subdirectories may be watchable, and are counted if not.
                wd, failure, failed = None, err, failed + 1
            node = self._attach(parent, name, wd, root)
            if node is None:
                continue
            self._tree.set_horizon(node, horizon)
            top = node if top is None else top
            # Asked after the watch, as the listing is: a directory made since is reported by it.
            listing = _listing(path) if found is not None or not self._leaves.leaf(path) else []
            if found is not None:
                # Unwatched or unlisted, what it holds may never be reported: it goes whole.
                alone = wd is not None and listing is not None
                found.append((rel, Reach.NEW_DIR if alone else Reach.TREE, Written.CLOSED))
            for entry in listing or ():
                child_rel = rel + b"/" + entry.name if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not self._excluded(root, child_rel, True):
                        stack.append((node, entry.name, entry.path, child_rel))
                elif found is not None and not self._excluded(root, child_rel, False):
                    regular = entry.is_file(follow_symlinks=False)
                    found.append((child_rel, Reach.PATH, Written.FOUND if regular else Written.CLOSED))
        if failed:
            self._report_unwatched(failed, failure)
        return top

    def _attach(self, parent: int | None, name: bytes, wd: int | None, root: int) -> int | None:
        """The node for a directory just watched; None for a bind mount of one of its own ancestors."""
        node = self._tree.slot_of(wd) if wd is not None else None
        if node is None:
            node = self._tree.add(wd)
        elif parent is not None and self._is_ancestor(node, parent):
            return None  # following it would loop forever
        else:
            self._moves.disown(self._tree.ref(node))   # a walk found it on disk: a move out must not unwatch it
            moved_root = self._root_of(node)
            if parent is not None and moved_root is not None:
                # A root's own inode turned up inside a tree: the root was moved there.
                self._root_gone(moved_root, "moved into another mirrored root", keep_node=True)
        if parent is None:
            self._tree.unlink(node)
            self._tops[root] = node
        else:
            # What was there is detached: IN_IGNORED drops it if it is gone.
            self._tree.link(node, parent, name)
        return node

    def _current(self, parent: int, name: bytes) -> int | None:
        """The child an event dispatched now may move or drop: not one placed by a walk that saw its outcome."""
        child = self._tree.child(parent, name)
        return child if child is not None and self._tree.horizon(child) <= self._event_at else None

    def _forget(self, node: int | None) -> None:
        """Unwatch a subtree that left the mirror."""
        if node is not None:
            for wd in self._tree.remove(node):
                self._ino.rm_watch(wd)

    def _root_of(self, node: int) -> int | None:
        """The root whose top node this is, if any."""
        return self._tops.index(node) if node in self._tops else None

    def _where(self, node: int) -> tuple[int, bytes] | None:
        """(root, rel) of a node, None when it hangs in no root (moved away, pending a pair)."""
        names = []
        while (up := self._tree.parent(node)) is not None:
            names.append(self._tree.name(node))
            node = up
        root = self._root_of(node)
        return None if root is None else (root, b"/".join(reversed(names)))

    def _is_ancestor(self, node: int, of: int | None) -> bool:
        while of is not None:
            if of == node:
                return True
            of = self._tree.parent(of)
        return False

    def _report_unwatched(self, count: int, failure: OSError) -> None:
        self._unwatched += count
        if time.monotonic() - self._last_warning >= WARNING_INTERVAL:  # once a minute, not once a mkdir
            self._last_warning = time.monotonic()
            advice = ("the inotify watch limit is reached: raise fs.inotify.max_user_watches (sysctl)"
                      " and restart fmirror" if isinstance(failure, ino.WatchLimitReached) else str(failure))
            log.warning("%d directories are not watched, so not mirrored live: %s", self._unwatched, advice)
        self._sink.full_sync_needed(f"{count} directories could not be watched ({failure.strerror})")


def _listing(path: bytes) -> list[os.DirEntry] | None:
    """The entries of a directory; None when it vanished or cannot be read."""
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except OSError:
        return None


def _refuse_nested(roots: list[bytes]) -> None:
    # One inode, one watch: a directory in two roots would be claimed by both.
    ordered = sorted(roots)
    for outer, inner in zip(ordered, ordered[1:]):
        if inner == outer or inner.startswith(outer.rstrip(b"/") + b"/"):
            raise ValueError(f"mirrored roots overlap: {_show(outer)} and {_show(inner)}")


def _show(path: bytes) -> str:
    return path.decode(errors="backslashreplace")
