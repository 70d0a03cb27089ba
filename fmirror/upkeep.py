"""A slave's housekeeping, off the monitor's thread: prune old versions, take scheduled snapshots.

The slave runner pokes it every cycle; a round runs in its own thread (a
snapshot can take minutes and must never delay a probe round) and logs one
sentence when it did something.
"""

import logging
import threading
import time

from fmirror import process, snapshots, versions
from fmirror.errors import Error

log = logging.getLogger(__name__)

CHECK_EVERY = 60.0      # s between looks at what is due
PRUNE_EVERY = 3600.0    # s between prunes of kept versions (one listing per path: cheap)


class Upkeep:
    def __init__(self, cfg):
        self.cfg = cfg
        self.stopping = threading.Event()
        self.thread = None
        self.next_check = 0.0
        self.next_prune = 0.0

    def poke(self):
        """Start a round in the background when one is due and none runs."""
        now = time.monotonic()
        if now < self.next_check or (self.thread is not None and self.thread.is_alive()):
            return
        if not self.cfg.replication.keep_versions_days and self.cfg.snapshots.schedule == "off":
            return
        self.next_check = now + CHECK_EVERY
        self.thread = threading.Thread(target=self._round, name="upkeep", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()

    def _round(self):
        try:
            self._prune_versions()
            self._snapshot()
        except process.Cancelled:
            pass
        except Error as e:   # reported, and tried again next round
            log.warning("upkeep: %s", e)

    def _prune_versions(self):
        if not self.cfg.replication.keep_versions_days or time.monotonic() < self.next_prune:
            return
        self.next_prune = time.monotonic() + PRUNE_EVERY
        removed = versions.prune(self.cfg)
        if removed:
            log.info("removed %d folders of kept versions older than %g days", removed,
                     self.cfg.replication.keep_versions_days)

    def _snapshot(self):
        taken = snapshots.existing(self.cfg)
        if not snapshots.due(self.cfg.snapshots.schedule, taken[-1][0] if taken else None, time.time()):
            return
        name = snapshots.create(self.cfg, cancel=self.stopping)
        gone = snapshots.prune(self.cfg)
        log.info("%s snapshot %s taken%s", self.cfg.snapshots.schedule, name,
                 f"; {len(gone)} pruned by the retention settings" if gone else "")
