"""What the watcher tells the send queue about a change, and the queue tells rsync's command lines.

The sink contract (watcher.Watcher) speaks these words; the queue
(changes.py) merges them per path, and a push (rsync.batch_list) reads them.
Their own module, so that pure command lines need not import the watcher.
"""

import enum


class Reach(enum.Enum):
    """What a push of a changed path has to cover."""
    PATH = "path"         # the path itself: a file, a symlink, or a name that may be gone
    NEW_DIR = "new dir"   # a directory made under a watch: what it holds is reported path by path
    TREE = "tree"         # a directory and everything under it


class Written(enum.Enum):
    """Whether a changed file may still be being written: a push waits for its close."""
    CLOSED = "closed"     # its close was seen, or it is nothing one writes to (a symlink, a directory)
    OPEN = "open"         # created or written to, its close not seen yet
    FOUND = "found"       # found by a walk: whether a writer still has it open is unknown


def ancestors(rels) -> set:
    """Every directory above these paths relative to a root (b"a/b/c" gives b"a" and b"a/b")."""
    out = set()
    for rel in rels:
        # Stops at the first one already known: those above it are in too.
        while (cut := rel.rfind(b"/")) > 0 and (rel := rel[:cut]) not in out:
            out.add(rel)
    return out
