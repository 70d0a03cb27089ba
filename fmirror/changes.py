"""The send queue: which paths each slave still needs, in order of sequence.

The watcher calls changed/deleted/renamed/full_sync_needed; every call gets a
sequence number. Each slave has its own queue so one slow slave never holds
back another. A path leaves a slave's queue only when a push that covered it
succeeded *and* it was not changed again after that push took it: a change
counts as replicated only when rsync said so.

When a change is due: at once by default (`replication.delay` 0), since what
changes while a push runs travels together in the next one anyway. While a
burst is under way (BURST_PATHS waiting), changes gather for BURST_GATHER
first: every push costs the slave a process start and the sender a file list,
and on a busy machine many small pushes slow down the very writer they
follow. A file still open for writing (its last event a write, not the close)
waits for its close, at most WRITE_SETTLE, so that a file being written is
not sent half done and then again whole. A new directory waits a moment for
what is written into it, and while nothing in it can go but a file is being
written there, for that file (SlaveQueue.hold_new_dirs): the push that takes
the file makes the directory too, and one push less starts.
"""

import threading
import time
from dataclasses import dataclass, field

from fmirror.errors import Failed
from fmirror.reach import Reach, Written, ancestors

# A file written to and not closed yet is pushed after this long at the latest
# (a log or a database that stays open must not wait for ever).
WRITE_SETTLE = 1.0
# A file a walk found in a new directory: a writer that still has it open writes again (an
# IN_MODIFY, which makes it open) long before this; a file finished before the watch waits no longer.
FOUND_SETTLE = 0.05
SETTLE = {Written.CLOSED: 0.0, Written.OPEN: WRITE_SETTLE, Written.FOUND: FOUND_SETTLE}
# A directory just made: a writer that made it puts its first file there within this, and
# the two go in one push (rsync makes the directory as the file's); one made and left
# empty reaches the slave this much later.
NEW_DIR_SETTLE = 0.05
# A burst: this many paths waiting. They gather at least this long (measured on the
# burst benchmark: pushing each batch at once made a 20,000-file burst 1.5x slower).
BURST_PATHS = 100
BURST_GATHER = 0.3
# A directory's rename looks for unsent paths under it in a queue at most this long;
# past it (a burst) the rename is taken as not settled: pushed after, as always.
SETTLED_SCAN = 1000


@dataclass
class Entry:
    seq: int          # the last change to this path
    reach: Reach      # what a push of it covers (see merged_reach)
    first: float      # when it first became unsent (for "oldest unsent" in status)
    since: float      # when it became due again (for the coalescing delay)
    settle: float = 0.0   # it may be being written: waits for its close at most this long after since
    # (a new directory: waits for what is written into it, see hold_new_dirs)

    @property
    def writing(self) -> bool:
        return self.settle > 0


def merged_reach(old: Reach | None, new: Reach) -> Reach:
    """What a queued path covers after one more change.

    A new directory goes alone only while no other stood at its name since the
    last push: the slave may still hold what one deleted or moved away held,
    which only a recursive push removes. A path change (PATH) at a new
    directory's name says it is gone, so the next one there is such a case.
    """
    if old is None:
        return new
    if Reach.TREE in (old, new):
        return Reach.TREE
    if new is Reach.NEW_DIR:
        return Reach.NEW_DIR if old is Reach.NEW_DIR else Reach.TREE
    return new


@dataclass
class Rename:
    seq: int
    root: int
    old: bytes
    new: bytes
    # Nothing at, above or under old was unsent when it moved: once the slave applied the
    # rename, its copy is ours under the new name and no push has to follow it.
    settled: bool = False


@dataclass
class Batch:
    """What one push takes: a snapshot, acknowledged root by root."""
    seq: int                                   # the queue's sequence when taken
    full: bool = False                         # a full reconciliation of every root
    renames: list = field(default_factory=list)
    paths: dict = field(default_factory=dict)  # root -> {rel: Reach}
    writing: dict = field(default_factory=dict)  # root -> [rel]: left out, still being written

    @property
    def empty(self) -> bool:
        return not (self.full or self.renames or any(self.paths.values()))


class SlaveQueue:
    """One slave's unsent changes. All methods are called under ChangeLog's lock."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.entries = {}          # (root, rel) -> Entry
        self.renames = []          # in the order they happened
        self.full_requested = 0    # seq of the latest full-sync request not yet covered; 0 = none
        self.in_flight = 0         # seq of the batch being pushed; 0 = none
        self.held = set()          # keys of deletions the brake holds back (brake.py): unsent, not due
        self.left_writing = set()  # keys the running push left out: still being written
        # New directories the last take held back for a file being written in them: not due
        # of their own once settled, the file's close or settle time brings them (hold_new_dirs).
        self.waiting = set()
        # The earliest `since` of a closed entry and the earliest settle deadline of one
        # being written, kept up to date as events come: the pusher asks after every
        # event, and a burst of 20,000 must not cost 20,000 scans.
        self.next_since = None
        self.next_settle = None
        self.stale = False         # an entry's due time moved later: the two may be early

    def mark(self, seq, root, rel, reach, now, written=Written.CLOSED):
        key = (root, rel)
        if key in self.held:       # a newer change (the file restored, say) is pushed as usual
            self.held.discard(key)
        self.waiting.discard(key)
        old = self.entries.get(key)
        reach = merged_reach(old.reach if old is not None else None, reach)
        settle = NEW_DIR_SETTLE if reach is Reach.NEW_DIR else SETTLE[written]
        if old is None:
            e = Entry(seq, reach, now, now, settle)
        elif self.in_flight and old.seq <= self.in_flight and key not in self.left_writing:
            # A change to a path that a running push already took makes it due again.
            e = Entry(seq, reach, old.first, now, settle)
        else:
            e = Entry(seq, reach, old.first, old.since, settle)
            self.stale = self.stale or settle > old.settle
        self.entries[key] = e
        self._due(e)

    def _due(self, e: Entry):
        if e.writing:
            settle = e.since + e.settle
            if self.next_settle is None or settle < self.next_settle:
                self.next_settle = settle
        elif self.next_since is None or e.since < self.next_since:
            self.next_since = e.since

    def clear_due(self):
        self.next_since = self.next_settle = None

    def recompute_due(self):
        """After a push or a released brake: once per push, not once per event."""
        self.clear_due()
        self.stale = False
        now = time.monotonic()
        for k, e in self.entries.items():
            if (not self.in_flight or e.seq > self.in_flight) and k not in self.held:
                # A directory held for a file being written is brought by that file (hold_new_dirs).
                if k not in self.waiting or e.since + e.settle > now:
                    self._due(e)

    def hold_new_dirs(self, batch, now: float) -> None:
        """Take out of a batch the new directories that nothing listed is in, while they are
        settling (NEW_DIR_SETTLE) or a file is being written in them.

        Sent alone, such a directory costs a push of its own (a process start
        on either side) while what it will hold cannot go yet; the push that
        takes its first file makes it as that file's implied directory,
        attributes and all (rsync.batch_list). It waits at most as long as the
        file: WRITE_SETTLE.
        """
        self.waiting.clear()
        for root, paths in batch.paths.items():
            busy = ancestors(batch.writing.get(root, ()))
            candidates = {rel for rel, reach in paths.items() if reach is Reach.NEW_DIR
                          and (rel in busy or self._settling((root, rel), now))}
            if not candidates:
                continue
            listed = ancestors(rel for rel in paths if rel not in candidates)
            for rel in candidates:
                if rel not in listed:
                    del paths[rel]
                    self.left_writing.add((root, rel))
                    if rel in busy:
                        self.waiting.add((root, rel))

    def _settling(self, key, now: float) -> bool:
        e = self.entries[key]
        return e.since + e.settle > now

    def gather(self) -> float:
        """How long closed changes wait to travel together."""
        return max(self.delay, BURST_GATHER) if len(self.entries) >= BURST_PATHS else self.delay

    def acked_seq(self, current):
        """Every change with a sequence up to this one is on the slave."""
        pending = [e.seq for e in self.entries.values()]
        pending += [r.seq for r in self.renames]
        if self.full_requested:
            pending.append(self.full_requested)
        return (min(pending) - 1) if pending else current

    def settled(self, root, rel, is_dir) -> bool:
        """Nothing unsent (or in a push under way) at rel, in a directory above it, or under it."""
        if self.full_requested or (root, rel) in self.entries:
            return False
        parts = rel.split(b"/")
        if any((root, b"/".join(parts[:i])) in self.entries for i in range(len(parts))):
            return False
        if not is_dir:
            return True
        if len(self.entries) > SETTLED_SCAN:
            return False
        inside = rel + b"/"
        return not any(r == root and k.startswith(inside) for r, k in self.entries)

    def due_at(self):
        """When the next push should start, or None when there is nothing to push."""
        if self.full_requested or self.renames:
            return 0.0
        if self.stale:
            self.recompute_due()
        closed = None if self.next_since is None else self.next_since + self.gather()
        return min((t for t in (closed, self.next_settle) if t is not None), default=None)

    def oldest(self):
        return min((e.first for e in self.entries.values()), default=None)


class ChangeLog:
    """Fans the watcher's changes out to every slave's queue."""

    def __init__(self, slaves, journal=None, delay: float = 0.0):
        self.lock = threading.Condition()
        self.journal = journal
        # Numbering goes on from the journal, so a restart never reuses a sequence number.
        self.seq = journal.last if journal is not None else 0
        self.queues = {name: SlaveQueue(delay) for name in slaves}

    # --- the watcher's sink -------------------------------------------------

    def changed(self, root: int, rel: bytes, reach: Reach, written: Written = Written.CLOSED):
        self._mark(root, rel, reach, written)

    def deleted(self, root: int, rel: bytes):
        # A listed path that no longer exists becomes a deletion on the slave.
        self._mark(root, rel, Reach.PATH)

    def renamed(self, root: int, old: bytes, new: bytes, is_dir: bool):
        with self.lock:
            self.seq += 1
            self._journal(root, old)
            self._journal(root, new)
            now = time.monotonic()
            for q in self.queues.values():
                q.renames.append(Rename(self.seq, root, old, new, q.settled(root, old, is_dir)))
                # Pushing both ends afterwards makes the result right even when
                # the rename cannot be applied on the slave (source not there yet);
                # a settled rename that was applied drops them (ack_moved).
                q.mark(self.seq, root, old, Reach.PATH, now)
                q.mark(self.seq, root, new, Reach.TREE if is_dir else Reach.PATH, now)
            self.lock.notify_all()

    def full_sync_needed(self, reason: str = "", slave: str | None = None):
        with self.lock:
            self.seq += 1
            for name, q in self.queues.items():
                if slave is None or name == slave:
                    q.full_requested = self.seq
            self.lock.notify_all()

    def caught_up(self):
        # Written out, not yet made durable (sync_journal does that before a
        # push): a `changes` request served by another process reads the file.
        if self.journal is not None:
            self.journal.flush()

    def _journal(self, root, rel):
        if self.journal is not None:
            self.journal.append(self.seq, root, rel)

    def _mark(self, root, rel, reach, written=Written.CLOSED):
        with self.lock:
            self.seq += 1
            self._journal(root, rel)
            now = time.monotonic()
            for q in self.queues.values():
                q.mark(self.seq, root, rel, reach, now, written)
            self.lock.notify_all()

    # --- the pushers' side ----------------------------------------------------

    def wait_due(self, slave, stop_event):
        """Block until the slave has a push due (True) or stop_event is set (False, after wake())."""
        q = self.queues[slave]
        with self.lock:
            while not stop_event.is_set():
                due = q.due_at()
                now = time.monotonic()
                if due is not None and due <= now:
                    return True
                # Every change of what is due notifies: an idle pusher sleeps until one does.
                self.lock.wait(None if due is None else due - now)
            return False

    def wake(self):
        """Wake the pushers' waits, to see their stop events."""
        with self.lock:
            self.lock.notify_all()

    def sync_journal(self):
        """Make every change recorded so far durable: done before each push, outside the lock."""
        if self.journal is not None:
            try:
                self.journal.sync()
            except OSError as e:
                raise Failed(f"the change journal could not be synced: {e.strerror or e}") from None

    def take(self, slave, max_batch) -> Batch:
        q = self.queues[slave]
        with self.lock:
            batch = Batch(seq=self.seq)
            q.in_flight = self.seq
            q.clear_due()              # all that is queued now is this push's business
            if q.full_requested:
                batch.full = True
                return batch
            batch.renames = list(q.renames)
            now = time.monotonic()
            count = 0
            for key, e in q.entries.items():
                if key in q.held:
                    continue
                if e.writing and e.since + e.settle > now and e.reach is not Reach.NEW_DIR:
                    q.left_writing.add(key)
                    batch.writing.setdefault(key[0], []).append(key[1])
                    continue
                if count >= max_batch:
                    break
                batch.paths.setdefault(key[0], {})[key[1]] = e.reach
                count += 1
            q.hold_new_dirs(batch, now)
            return batch

    def ack_rename(self, slave, rename: Rename):
        with self.lock:
            self.queues[slave].renames.remove(rename)
            self.lock.notify_all()

    def ack_moved(self, slave, batch: Batch, rename: Rename):
        """The slave applied a settled rename: both names are as here, unless changed since."""
        q = self.queues[slave]
        with self.lock:
            paths = batch.paths.get(rename.root, {})
            for rel in (rename.old, rename.new):
                e = q.entries.get((rename.root, rel))
                if e is not None and e.seq == rename.seq:
                    del q.entries[(rename.root, rel)]
                    paths.pop(rel, None)
            self.lock.notify_all()

    def ack_paths(self, slave, batch: Batch, root: int):
        """The push of one root of a batch succeeded: drop what it covered."""
        q = self.queues[slave]
        with self.lock:
            for rel in batch.paths.get(root, ()):
                e = q.entries.get((root, rel))
                if e is not None and e.seq <= batch.seq and (root, rel) not in q.held:
                    del q.entries[(root, rel)]
            self.lock.notify_all()

    def ack_full(self, slave, batch: Batch):
        """A full reconciliation that started at batch.seq succeeded: it covered everything before."""
        q = self.queues[slave]
        with self.lock:
            q.entries = {k: e for k, e in q.entries.items() if e.seq > batch.seq or k in q.held}
            q.renames = [r for r in q.renames if r.seq > batch.seq]
            if q.full_requested <= batch.seq:
                q.full_requested = 0
            self.lock.notify_all()

    # --- the deletion brake (brake.py) --------------------------------------------

    def hold(self, slave, batch: Batch, root: int, rels):
        """Keep these deletions of a push queued but not due: the brake stopped them."""
        q = self.queues[slave]
        with self.lock:
            for rel in rels:
                e = q.entries.get((root, rel))
                if e is not None and e.seq <= batch.seq:
                    q.held.add((root, rel))

    def unhold(self, slave, root: int) -> int:
        """The held deletions of root are due again; returns how many."""
        q = self.queues[slave]
        with self.lock:
            keys = {k for k in q.held if k[0] == root}
            q.held -= keys
            q.recompute_due()
            self.lock.notify_all()
            return len(keys)

    def held(self, slave, root: int) -> int:
        with self.lock:
            return sum(1 for k in self.queues[slave].held if k[0] == root)

    def done(self, slave):
        """A push ended (either way): changes made during it are due as usual."""
        with self.lock:
            q = self.queues[slave]
            q.in_flight = 0
            q.left_writing.clear()
            q.recompute_due()
            self.lock.notify_all()

    # --- barriers and status ---------------------------------------------------

    def current(self) -> int:
        with self.lock:
            return self.seq

    def wait_acked(self, seq, timeout) -> bool:
        """Block until every slave acknowledged every change up to seq."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if all(q.acked_seq(self.seq) >= seq for q in self.queues.values()):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.5))

    def acked(self, slave) -> int:
        with self.lock:
            return self.queues[slave].acked_seq(self.seq)

    def unsent(self, slave):
        """(count, oldest age in seconds or None, full sync pending)."""
        with self.lock:
            q = self.queues[slave]
            oldest = q.oldest()
            age = None if oldest is None else time.monotonic() - oldest
            return len(q.entries) + len(q.renames), age, bool(q.full_requested)
