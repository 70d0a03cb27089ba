"""The master's replication: watch the paths, queue changes, push them to every slave."""

import logging
import os
import threading
import time

from fmirror import ssh, state as state_mod
from fmirror.changes import ChangeLog
from fmirror.journal import Journal
from fmirror.config.model import Config
from fmirror.excludes import compile_excludes
from fmirror.pusher import Pusher
from fmirror.watcher import Watcher

log = logging.getLogger(__name__)

# The journal is rewritten without the records every slave has, at most this often.
COMPACT_EVERY = 60.0
# A slave's acknowledged point goes to state.json (with fsync) at most this often:
# pushes can come many times a second. An older point on disk only makes a later
# restore look at a few more paths than it must (divergence over-reported, never under).
ACK_SAVE_EVERY = 1.0


class Replicator:
    def __init__(self, cfg: Config, epoch, on_refused=None, metrics=None, on_brake=None, links=None, wake=None):
        self.cfg = cfg
        self.epoch = epoch                      # callable: the live epoch
        self.wake = wake or (lambda: None)      # the daemon's loop sleeps until tick() says: an ack makes work sooner
        self.slaves = [p for p in cfg.peers]
        self.journal = Journal(cfg.state_dir)
        self.changes = ChangeLog([p.name for p in self.slaves], self.journal, cfg.replication.delay)
        matcher = compile_excludes(cfg.exclude)
        self.watcher = Watcher([os.fsencode(p) for p in cfg.paths],
                               lambda root, rel, is_dir: matcher(rel, is_dir), self.changes)
        self.pushers = {p.name: Pusher(cfg, p, self.changes, epoch, on_push=self._acked, on_refused=on_refused,
                                       metrics=metrics, on_brake=on_brake, links=links)
                        for p in self.slaves}
        self.last_full_request = 0.0
        self.last_compact = time.monotonic()
        self.ack_lock = threading.Lock()
        self.unsaved_acks = {}        # slave -> (acked_at, epoch, seq) not yet in state.json
        self.last_ack_save = 0.0

    def start(self, watching=None):
        """Watch, call watching() (a new master claims its IP there), then push.

        Watch first, then reconcile: whatever changes during the full sync
        is already queued, so nothing slips between the two.
        """
        started = time.monotonic()
        self.watcher.start()
        log.info("watching %d paths (%s) in %.1f s", len(self.cfg.paths), ", ".join(self.cfg.paths),
                 time.monotonic() - started)
        try:
            if watching is not None:
                # Before the pushers' threads exist: they would compete with it for the interpreter.
                watching()
        finally:
            self.request_full_sync("daemon start")
            for pusher in self.pushers.values():
                pusher.start()

    def stop(self):
        self.watcher.stop()
        for pusher in self.pushers.values():
            pusher.stop()
        for pusher in self.pushers.values():
            if pusher.is_alive():
                pusher.join()
        self._save_acks()
        for peer in self.slaves:
            ssh.close(self.cfg, peer)
        self.journal.close()

    def peer_rejoined(self, name):
        if name in self.pushers:
            self.pushers[name].retry_now()

    def release_brakes(self) -> list:
        """`fmirror release-brake`: [{slave, path, deletes, since}] of the paused deletions now let through."""
        return [{"slave": name, **engaged} for name, pusher in self.pushers.items()
                for engaged in pusher.release_brake()]

    def first_sync_tried(self) -> bool:
        return all(p.status.state != "starting" for p in self.pushers.values())

    def request_full_sync(self, reason):
        self.last_full_request = time.monotonic()
        self.changes.full_sync_needed(reason)

    def tick(self) -> float:
        """Seconds until the next periodic full reconciliation or acknowledgement save is due."""
        interval = self.cfg.replication.full_sync_interval
        due = interval - (time.monotonic() - self.last_full_request) if interval else 3600.0
        if self.unsaved_acks:
            due = min(due, self.last_ack_save + ACK_SAVE_EVERY - time.monotonic())
        return due

    def cycle(self):
        """One pass of the daemon loop; returns a sentence when it decided something."""
        if self.unsaved_acks and time.monotonic() - self.last_ack_save >= ACK_SAVE_EVERY:
            self._save_acks()
        interval = self.cfg.replication.full_sync_interval
        if interval and time.monotonic() - self.last_full_request >= interval:
            self.request_full_sync("periodic")
            return f"periodic full reconciliation requested (every {interval:g} s)"
        return None

    def wait(self, seconds: float) -> bool:
        """True once every change made before the call is on every slave."""
        # Changes whose write returned before this call are in inotify's queue
        # by now; draining it gives them sequence numbers below the barrier.
        if not self.watcher.drain(seconds):
            return False   # the watcher could not say what changed: no barrier to promise
        return self.changes.wait_acked(self.changes.current(), seconds)

    def _acked(self, peer):
        """A push went through: the slave's acknowledged point, after a failover where the data forked."""
        with self.ack_lock:
            self.unsaved_acks[peer.name] = (time.time(), self.epoch(), self.changes.acked(peer.name))
        if time.monotonic() - self.last_ack_save >= ACK_SAVE_EVERY:
            self._save_acks()
        else:
            self.wake()    # saved by the loop's cycle once ACK_SAVE_EVERY has passed

    def _save_acks(self):
        with self.ack_lock:
            acks, self.unsaved_acks = self.unsaved_acks, {}
            self.last_ack_save = time.monotonic()
            if not acks:
                return

            def record(s):
                for name, (at, epoch, seq) in acks.items():
                    progress = s.peers.setdefault(name, state_mod.PeerProgress())
                    progress.acked_at, progress.acked_epoch, progress.acked_seq = at, epoch, seq
            state_mod.update(self.cfg, record)
        if time.monotonic() - self.last_compact > COMPACT_EVERY:
            self.last_compact = time.monotonic()
            self.journal.compact(min(self.changes.acked(p.name) for p in self.slaves))

    def status(self) -> dict:
        slaves = {}
        for name, pusher in self.pushers.items():
            unsent, oldest, full = self.changes.unsent(name)
            s = pusher.status
            brakes = pusher.brake.status()
            slaves[name] = {
                "address": pusher.peer.address,
                "state": s.state,
                "unsent": unsent,
                "oldest_unsent_age": oldest,
                "full_sync_pending": full,
                "last_push": s.last_push,
                # Lag: how long the oldest change has waited; unknown while a full sync is due.
                "lag": oldest if oldest is not None else (None if full else 0.0),
                "last_error": s.last_error,
                "last_error_at": s.last_error_at,
                "last_full_sync": s.last_full_sync,
                "last_full_sync_seconds": s.last_full_sync_seconds,
                "bytes_sent": s.bytes_sent,
                "pushes": s.pushes,
                "warm_pushes": s.warm,
                # The deletion brake: the oldest paused path (None when none), and every one of them.
                "brake": brakes[0] if brakes else None,
                "brakes": brakes,
            }
        return {"slaves": slaves, "unwatched_dirs": self.watcher.unwatched}
