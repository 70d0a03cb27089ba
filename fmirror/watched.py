"""The watched tree: a watch on every mirrored directory, each a node in a Tree (tree.py), and the walks placing them.

The watcher (watcher.py) reads the events; this module keeps what they are
about. Watched directories form a tree of nodes that mirrors the real one,
so a directory rename is one re-link whatever the size of its subtree, and
a path is rebuilt from the node chain only when an event needs it.

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
import time
from collections.abc import Callable

from fmirror import inotify as ino
from fmirror.leaves import Leaves
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
WARNING_INTERVAL = 60.0


class Watched:
    """The roots' watched directories: their nodes, their watches, the walks that make them.

    horizon(): the offset of the event stream up to which events are queued now.
    What a walk finds that only the watcher can act on, it is told:
    disown(ref) a node found on disk (a move out must not unwatch it),
    root_moved(i) root i's own directory found inside a tree,
    unwatched(count, failure) directories that could not be watched.
    """

    def __init__(self, roots: list[bytes], excluded: Callable[[int, bytes, bool], bool], inotify: ino.Inotify,
                 horizon: Callable[[], int], disown: Callable, root_moved: Callable, unwatched: Callable,
                 lost_grace: float):
        self.roots, self._excluded, self._ino, self._horizon = roots, excluded, inotify, horizon
        # A directory a walk could not find by its path (an ancestor renamed by an event
        # not read yet) is tried again this long.
        self._lost_grace = lost_grace
        self._disown, self._root_moved, self._on_unwatched = disown, root_moved, unwatched
        self._leaves = Leaves()
        self.tree = Tree()
        self.tops: list[int | None] = [None] * len(roots)  # each root's top node
        # (Tree.ref of parent, name, until): directories a walk could not find by path, retried until then
        self.lost: list[tuple[int, bytes, float]] = []
        self.unwatched = 0
        self._last_warning = -math.inf

    def watch_root(self, i: int) -> bool:
        return self.walk(None, b"", i, b"") is not None

    def rewatch(self) -> None:
        """Rebuild the whole tree from the disk, keeping the watches that still apply."""
        stale = self.tree
        self.tree, self.tops, self.lost, self.unwatched = Tree(), [None] * len(self.roots), [], 0
        for i in range(len(self.roots)):
            self.watch_root(i)
        for wd in stale.wds():
            if self.tree.slot_of(wd) is None:
                self._ino.rm_watch(wd)

    def walk(self, parent: int | None, name: bytes, root: int, rel: bytes,
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
        horizon = self._horizon()
        until = until or time.monotonic() + self._lost_grace
        stack = [(parent, name, os.path.join(self.roots[root], rel), rel)]
        while stack:
            parent, name, path, rel = stack.pop()
            try:
                wd = self._ino.add_watch(path, DIR_MASK if parent is not None else ROOT_MASK)
            except ino.WatchTargetGone:
                if parent is not None and time.monotonic() < until:
                    self.lost.append((self.tree.ref(parent), name, until))
                continue
            except OSError as err:
                # Still listed: its subdirectories may be watchable, and are counted if not.
                wd, failure, failed = None, err, failed + 1
            node = self._attach(parent, name, wd, root)
            if node is None:
                continue
            self.tree.set_horizon(node, horizon)
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

    def retry_lost(self) -> list[tuple[int, bytes]]:
        """Walk again the directories not found by path in time; (root, rel) of each one now watched."""
        lost, self.lost, placed = self.lost, [], []
        for parent_ref, name, until in lost:
            parent = self.tree.deref(parent_ref)
            where = self.where(parent) if parent is not None else None
            if where is None or self.tree.child(parent, name) is not None:
                continue  # its parent left the roots, or something else put it in place
            root, parent_rel = where
            rel = parent_rel + b"/" + name if parent_rel else name
            if not self._excluded(root, rel, True) and self.walk(parent, name, root, rel, until) is not None:
                placed.append((root, rel))
        return placed

    def _attach(self, parent: int | None, name: bytes, wd: int | None, root: int) -> int | None:
        """The node for a directory just watched; None for a bind mount of one of its own ancestors."""
        node = self.tree.slot_of(wd) if wd is not None else None
        if node is None:
            node = self.tree.add(wd)
        elif parent is not None and self.is_ancestor(node, parent):
            return None  # following it would loop forever
        else:
            self._disown(self.tree.ref(node))
            moved_root = self.root_of(node)
            if parent is not None and moved_root is not None:
                self._root_moved(moved_root)
        if parent is None:
            self.tree.unlink(node)
            self.tops[root] = node
        else:
            # What was there is detached: IN_IGNORED drops it if it is gone.
            self.tree.link(node, parent, name)
        return node

    def current(self, parent: int, name: bytes, event_at: int) -> int | None:
        """The child an event at event_at may move or drop: not one placed by a walk that saw its outcome."""
        child = self.tree.child(parent, name)
        return child if child is not None and self.tree.horizon(child) <= event_at else None

    def forget(self, node: int | None) -> None:
        """Unwatch a subtree that left the mirror."""
        if node is not None:
            for wd in self.tree.remove(node):
                self._ino.rm_watch(wd)

    def root_of(self, node: int) -> int | None:
        """The root whose top node this is, if any."""
        return self.tops.index(node) if node in self.tops else None

    def where(self, node: int) -> tuple[int, bytes] | None:
        """(root, rel) of a node, None when it hangs in no root (moved away, pending a pair)."""
        names = []
        while (up := self.tree.parent(node)) is not None:
            names.append(self.tree.name(node))
            node = up
        root = self.root_of(node)
        return None if root is None else (root, b"/".join(reversed(names)))

    def is_ancestor(self, node: int, of: int | None) -> bool:
        while of is not None:
            if of == node:
                return True
            of = self.tree.parent(of)
        return False

    def _report_unwatched(self, count: int, failure: OSError) -> None:
        self.unwatched += count
        if time.monotonic() - self._last_warning >= WARNING_INTERVAL:  # once a minute, not once a mkdir
            self._last_warning = time.monotonic()
            advice = ("the inotify watch limit is reached: raise fs.inotify.max_user_watches (sysctl)"
                      " and restart fmirror" if isinstance(failure, ino.WatchLimitReached) else str(failure))
            log.warning("%d directories are not watched, so not mirrored live: %s", self.unwatched, advice)
        self._on_unwatched(count, failure)


def _listing(path: bytes) -> list[os.DirEntry] | None:
    """The entries of a directory; None when it vanished or cannot be read."""
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except OSError:
        return None
