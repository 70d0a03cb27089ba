"""Hooks (argv lists, never a shell string) and events.

A hook that fails or hangs is logged and reported, and never wedges the
daemon: promote, demote and fence run with a deadline; notify runs in the
background.
"""

import contextlib
import enum
import logging
import os
import threading
import time

from fmirror import process
from fmirror.config.model import Config
from fmirror.errors import Error

log = logging.getLogger(__name__)

HOOK_TIMEOUT = 30.0


class Event(enum.Enum):
    MASTER_DOWN = "master-down"
    MASTER_UP = "master-up"
    PROMOTED = "promoted"
    DEMOTED = "demoted"
    SUSPENDED = "suspended"
    FENCED = "fenced"
    WITNESS_LOST = "witness-lost"
    ISOLATED = "isolated"
    REFUSED = "refused"
    DELETION_BRAKE = "deletion-brake"   # a mass deletion paused on a slave (brake.py)


def environment(cfg: Config, event: str, role: str, epoch: int, detail: str = "") -> dict:
    # systemd's notify socket and watchdog are the daemon's own, not its hooks'.
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.update({"FMIRROR_EVENT": event, "FMIRROR_ROLE": role, "FMIRROR_EPOCH": str(epoch),
                "FMIRROR_NODE": cfg.node, "FMIRROR_DETAIL": detail})
    return env


def run(cfg: Config, name: str, argv, event: str, role: str, epoch: int, detail: str = "") -> bool:
    """Run hook `name` and wait for it (at most HOOK_TIMEOUT); True if it succeeded or is unset."""
    if not argv:
        return True
    try:
        process.run(list(argv), env=environment(cfg, event, role, epoch, detail), timeout=HOOK_TIMEOUT)
    except Error as e:
        log.error("%s hook failed: %s", name, e)
        return False
    log.info("%s hook ran: %s", name, " ".join(argv))
    return True


class Events:
    """Every state change: logged, counted, and given to the notify hook in the background."""

    def __init__(self, cfg: Config, on_event=None):
        self.cfg = cfg
        self.on_event = on_event or (lambda name: None)
        self.recent = []          # (time, event, role, epoch, detail), newest last
        self._lock = threading.Lock()
        self._held = None         # notify hooks held() keeps back, in order

    def emit(self, event: Event, role: str, epoch: int, detail: str = ""):
        self.recent = (self.recent + [(time.time(), event.value, role, epoch, detail)])[-100:]
        self.on_event(event.value)
        log.info("event %s (%s, epoch %d)%s", event.value, role, epoch, f": {detail}" if detail else "")
        if self.cfg.hooks.notify:
            args = (self.cfg, "notify", self.cfg.hooks.notify, event.value, role, epoch, detail)
            with self._lock:
                if self._held is not None:
                    self._held.append(args)
                    return
            _notify(args)

    @contextlib.contextmanager
    def held(self):
        """Inside: events are logged and counted at once, their notify hooks started at release() or at the end.

        For a promotion (SlaveRunner.cycle, failover.promote): a hook's process
        started at "master-down" took the cores the promotion needed, and the
        floating IP came 12 ms later (median, fast setting, two cores; 5 ms
        without the hook).
        """
        with self._lock:
            if self._held is None:   # already held: keep what is held, in order
                self._held = []
        try:
            yield
        finally:
            self.release()

    def release(self):
        """Start the notify hooks held back so far, in order; from now on at once. Nothing held: nothing to do."""
        with self._lock:
            held, self._held = self._held or [], None
        for args in held:
            _notify(args)


def _notify(args: tuple) -> None:
    threading.Thread(target=run, name="notify", daemon=True, args=args).start()
