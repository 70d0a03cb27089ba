"""The master's push loop for one slave: take due changes, rsync them, acknowledge.

One thread per slave, so a slow or dead slave never holds back another.
Nothing leaves the queue unless rsync confirmed it; failures back off and retry.
"""

import json
import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass

from fmirror import brake as brake_mod, process, progress as progress_mod, protocol, rsync, ssh, warm
from fmirror.changes import Batch, ChangeLog
from fmirror.config.model import Config, Node
from fmirror.errors import Error

log = logging.getLogger(__name__)

PROGRESS_LOG = 10.0      # s between progress lines of a long full reconciliation (journald)
PROGRESS_LOG_TTY = 2.0   # when someone watches the daemon on a terminal
# A go is one line each way over the link: a slave that takes longer is busy, and a cold push no slower.
GO_TIMEOUT = 2.0


def _empty(root: str) -> bool:
    try:
        with os.scandir(root) as entries:
            return next(entries, None) is None
    except OSError:
        return False    # missing or unreadable: rsync says what is wrong, and deletes nothing


def _is_dir(root: str, rel: bytes) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(os.path.join(os.fsencode(root), rel)).st_mode)
    except OSError:
        return False


def _dir_times(root: str, rename) -> list:
    """[[rel, mtime_ns]] of the directories a rename touched, as they are here now.

    The slave sets them after its own rename (serve_rename), so that a settled
    rename needs no push for the parents' mtimes. Directories only: a file's
    mtime on the slave must keep telling rsync whether its content is there.
    """
    parents = {os.path.dirname(rename.old), os.path.dirname(rename.new), rename.new}
    times = []
    for rel in sorted(parents):
        try:
            st = os.lstat(os.path.join(os.fsencode(root), rel) if rel else root)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            times.append([os.fsdecode(rel), st.st_mtime_ns])
    return times


class PushFailed(Error):
    """push of {} to {} failed: rsync exit {}: {}"""


class Backoff:
    """0.5 s, doubling, at most 30 s: a dead slave costs little, a flapping one recovers fast."""

    FIRST, CAP = 0.5, 30.0

    def __init__(self):
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return min(self.CAP, self.FIRST * 2 ** (self.failures - 1))

    def reset(self):
        self.failures = 0


@dataclass
class SlaveStatus:
    """What the pusher knows of one slave, for `fmirror status` (read without a lock: plain values)."""
    state: str = "starting"          # ok | retrying | refused | starting
    last_push: float | None = None   # wall clock of the last successful push
    last_error: str | None = None
    last_error_at: float | None = None
    last_full_sync: float | None = None
    last_full_sync_seconds: float | None = None
    bytes_sent: int = 0
    pushes: int = 0
    warm: int = 0                    # of them, pushes sent on a session opened ahead (warm.py)
    refused_epoch: int | None = None


class Pusher(threading.Thread):
    def __init__(self, cfg: Config, peer: Node, changes: ChangeLog, epoch, on_push=None, on_refused=None,
                 metrics=None, on_brake=None, links=None):
        super().__init__(name=f"push-{peer.name}", daemon=True)
        self.cfg, self.peer, self.changes = cfg, peer, changes
        self.epoch = epoch                  # callable: the epoch pushes carry now
        self.on_push = on_push or (lambda peer: None)
        self.on_refused = on_refused or (lambda peer, refusal: None)
        self.metrics = metrics
        self.links = links                  # renames go over the daemon's link to the slave (link.py)
        self.status = SlaveStatus()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.backoff = Backoff()
        self.on_brake = on_brake or (lambda peer, engaged: None)
        self.brake = brake_mod.Guard(cfg.replication.max_delete, on_engaged=self._brake_engaged)
        self.opened = warm.Opened()         # the next push of each root, opened ahead (warm.py)

    def stop(self):
        self.stopping.set()
        self.changes.wake()
        self.wake.set()

    def retry_now(self):
        """The slave came back (a restore rejoined it): try at once, not after the backoff."""
        self.backoff.reset()
        self.wake.set()

    def run(self):
        try:
            self._loop()
        finally:
            self.opened.close()      # a push opened ahead is ours to end: the slave holds its session

    def _loop(self):
        while self.changes.wait_due(self.peer.name, self.stopping):
            batch = self.changes.take(self.peer.name, self.cfg.replication.max_batch)
            if batch.empty:
                # All that was due waits for a file being written (SlaveQueue.hold_new_dirs).
                self.changes.done(self.peer.name)
                continue
            try:
                # After the take: every change the push carries is on disk before it leaves.
                self.changes.sync_journal()
                self.push(batch)
            except process.Cancelled:
                return
            except ssh.PeerRefused as e:
                self._failed(str(e), "refused")
                self.status.refused_epoch = e.refusal.epoch
                self.on_refused(self.peer, e.refusal)
            except Error as e:
                self._failed(str(e), "retrying")
            except Exception as e:  # a pusher that died would leave changes queued forever
                log.exception("%s: unexpected error in a push", self.peer.name)
                self._failed(f"internal error: {type(e).__name__}: {e}", "retrying")
            else:
                self._succeeded(batch)
                continue
            finally:
                self.changes.done(self.peer.name)
            self.wake.wait(self.backoff.next())
            self.wake.clear()

    def _failed(self, message, state):
        if self.status.last_error != message:
            log.warning("%s: %s; changes stay queued and are retried", self.peer.name, message)
        self.status.state, self.status.last_error, self.status.last_error_at = state, message, time.time()
        if self.metrics is not None:
            self.metrics.push_error(self.peer.name, state)

    def _succeeded(self, batch):
        if self.status.state in ("retrying", "refused"):
            log.info("%s: pushes go through again", self.peer.name)
        self.backoff.reset()
        self.status.state, self.status.last_push = "ok", time.time()
        self.status.pushes += 1
        if self.links is not None:
            # After a full sync too, or one whose link broke: the connection waits for the next push.
            self.links.keep(self.cfg, self.peer)
        self.on_push(self.peer)

    # --- one push ----------------------------------------------------------

    def push(self, batch: Batch):
        if batch.full:
            started = time.monotonic()
            # The first full reconciliation can be long (a new slave): show how it goes.
            first = self.status.last_full_sync is None
            blocked = None
            for index, root in enumerate(self.cfg.paths):
                try:
                    self._full_root(index, root, first)
                except brake_mod.Blocked as e:
                    blocked = e      # the other paths still go; this one and the acknowledgement wait
            if blocked is not None:
                raise blocked
            self.changes.ack_full(self.peer.name, batch)
            self.status.last_full_sync = time.time()
            self.status.last_full_sync_seconds = time.monotonic() - started
            if self.metrics is not None:
                self.metrics.full_sync(self.peer.name, self.status.last_full_sync_seconds)
            log.info("%s: full reconciliation done in %.1f s", self.peer.name,
                     self.status.last_full_sync_seconds)
            return
        if batch.renames:
            self._apply_renames(batch)
        blocked = None
        for index, rels in batch.paths.items():
            if not rels:
                continue     # all it held were settled renames, applied on the slave
            try:
                self._push_root(batch, index, rels)
            except brake_mod.Blocked as e:
                blocked = e          # the other paths still go; this one is retried whole
        self._recheck_brakes()
        if blocked is not None:
            raise blocked

    def _push_root(self, batch, index, rels):
        root = self.cfg.paths[index]
        left_out = batch.writing.get(index, ())
        # Looked at after the take: a directory gone since is reported again, and pushed again.
        listed, alone = rsync.batch_list(rels, lambda rel: _is_dir(root, rel))
        argv = self._batch_argv(index, left_out=left_out, alone=alone)
        gone, dirs = brake_mod.deletions(root, listed) if self.brake.limit else ((), False)
        # The usual push (nothing left out, no brake option) may go on a session opened ahead.
        opened = None if left_out or alone else index
        if not self.brake.push(root, lambda extra: self._rsync(argv, root, input=rsync.files_from(listed), extra=extra,
                                                               opened=opened),
                               may_delete=bool(gone) or dirs):
            self.changes.hold(self.peer.name, batch, index, gone)
            self.brake.set_held(root, True)
        self.changes.ack_paths(self.peer.name, batch, index)

    def _full_root(self, index, root, progress):
        delete = not _empty(root)
        if not delete:
            # An empty root is what a filesystem that failed to mount, or was unmounted, leaves
            # behind: mirroring it would empty the slave. Files deleted one by one were pushed
            # as deletions already; what is left on the slave stays until the root has content.
            log.warning("%s: mirrored root %s is empty here: reconciling it without deleting anything on "
                        "the slave (is its filesystem mounted?)", self.peer.name, root)
        argv = rsync.full_argv(self.cfg, ssh.rsh(self.cfg), self._rsync_path(), root, self._dest(root),
                               progress=progress, delete=delete)
        if self.brake.push(root, lambda extra: self._rsync(argv, root, progress=progress, extra=extra), full=True):
            self.changes.unhold(self.peer.name, index)

    # --- the deletion brake (brake.py) ---------------------------------------

    def _brake_engaged(self, engaged):
        log.warning("%s: %d deletions under %s held back: more than replication.max_delete (%d) within %g s; "
                    "check the master, then run `fmirror release-brake` to let them through", self.peer.name,
                    engaged.deletes, engaged.path, self.brake.limit, brake_mod.WINDOW)
        self.on_brake(self.peer, engaged)

    def _recheck_brakes(self):
        """Every held deletion left the queue (the files are back on the master): a full reconciliation confirms."""
        for path in self.brake.held_paths():
            if not self.changes.held(self.peer.name, self.cfg.paths.index(path)):
                self.brake.set_held(path, False)
                self.changes.full_sync_needed(f"held deletions under {path} resolved", slave=self.peer.name)

    def release_brake(self) -> list:
        """`fmirror release-brake`: the paused deletions go through once; returns what was paused."""
        released = self.brake.release()
        for engaged in released:
            self.changes.unhold(self.peer.name, self.cfg.paths.index(engaged["path"]))
        if released:
            # Also the deletions no queued path stands for (inside listed directories, found by a full reconciliation).
            self.changes.full_sync_needed("deletion brake released", slave=self.peer.name)
            self.retry_now()
        return released

    # --- rsync -----------------------------------------------------------------

    def _rsync(self, argv, root, input=None, progress=False, extra=(), opened=None):
        """opened: the root's index when this push may use a session opened ahead (warm.py), and open the next."""
        argv = rsync.with_options(argv, extra)
        ssh.prepare(self.cfg)
        if progress:
            result = progress_mod.run(argv, self._progress_logger(root), cancel=self.stopping)
        elif opened is not None and not extra and self.links is not None:
            result = self._warm_run(argv, input, opened)
        else:
            result = process.run(argv, input=input, check=False, cancel=self.stopping)
        err = result.stderr.decode("utf-8", "replace")
        refusal = protocol.find_refusal(err)
        skipped = rsync.skipped_deletions(result.stderr + result.stdout) if extra else 0
        outcome = rsync.interpret(result.returncode, refusal is not None, skipped)
        if outcome is rsync.Outcome.REFUSED:
            raise ssh.PeerRefused(self.peer.name, refusal)
        if outcome is rsync.Outcome.RETRY:
            raise PushFailed(root, self.peer.name, result.returncode, process.stderr_tail(result.stderr))
        # BLOCKED goes back to the brake, which decides (brake.py).
        self.status.bytes_sent += rsync.bytes_sent(result.stdout)
        return result

    def _warm_run(self, argv, input, index):
        session = self.opened.take(index, argv)
        sent = session is not None and self._go(session[1])
        if session is not None and not sent:
            self.opened.failed("the slave's daemon holds no push opened ahead")
            warm.close(session[0])
        if not self.stopping.is_set():
            # The next one opens while this one runs: at 20 changes/s, opened after it ended, it
            # was not parked yet when the next change came (~20 ms of every push).
            self.opened.open(index, argv, lambda ticket: self._batch_argv(index, ticket=ticket))
        if sent:
            self.status.warm += 1
            return process.finish(session[0], input=input, cancel=self.stopping)
        return process.run(argv, input=input, check=False, cancel=self.stopping)

    def _go(self, ticket) -> bool:
        words = protocol.request("go", "--epoch", self.epoch(), "--from", self.cfg.node, ticket)
        answer = self.links.call(self.cfg, self.peer, words, None, GO_TIMEOUT)
        return answer is not None and answer[0] == 0 and answer[1].strip() == b"true"

    def _progress_logger(self, root):
        every = PROGRESS_LOG_TTY if sys.stderr.isatty() else PROGRESS_LOG
        last = [time.monotonic()]

        def log_progress(p):
            if time.monotonic() - last[0] >= every:
                last[0] = time.monotonic()
                log.info("%s: full reconciliation of %s: %s", self.peer.name, root, progress_mod.describe(p))
        return log_progress

    def _apply_renames(self, batch):
        words = protocol.request("rename", "--epoch", self.epoch(), "--from", self.cfg.node)
        # Only a settled rename needs the times: after any other, a push sends the directories anyway.
        payload = [[self.cfg.paths[r.root], os.fsdecode(r.old), os.fsdecode(r.new),
                    _dir_times(self.cfg.paths[r.root], r) if r.settled else []] for r in batch.renames]
        applied = json.loads(ssh.call(self.cfg, self.peer, words, input=json.dumps(payload).encode(),
                                      links=self.links))
        log.debug("%s: renames applied %d of %d", self.peer.name, sum(applied), len(applied))
        for r, done in zip(batch.renames, applied):
            if done and r.settled:
                self.changes.ack_moved(self.peer.name, batch, r)
            self.changes.ack_rename(self.peer.name, r)

    def _batch_argv(self, index, left_out=(), alone=(), ticket=None):
        root = self.cfg.paths[index]
        return rsync.batch_argv(self.cfg, ssh.rsh(self.cfg), protocol.push_rsync_path(self.epoch(), self.cfg.node, ticket),
                                root, self._dest(root), left_out=left_out, alone=alone)

    def _rsync_path(self):
        return protocol.push_rsync_path(self.epoch(), self.cfg.node)

    def _dest(self, root):
        return rsync.remote_dest(self.cfg.transport.ssh_user, self.peer.address, root)
