"""`fmirror daemon`: the small shell around the node's role.

Signals only set flags; the loop runs one cycle at a time and logs the
sentence a cycle returns when it decided something. Role changes hold one
lock, whether the monitor or a command asked for them.
"""

import logging
import os
import signal
import threading
import time

from fmirror import control, failover, link, locations, logs, protocol, resident, state as state_mod, wakeup
from fmirror.api import ApiServer
from fmirror.config import load_config
from fmirror.config.model import Role
from fmirror.errors import Error, Failed
from fmirror.hooks import Events
from fmirror.metrics import Metrics
from fmirror.monitor import newer_master
from fmirror.probes import Prober
from fmirror.roles import MasterRunner, SlaveRunner, SuspendedRunner
from fmirror.sdnotify import Notifier

log = logging.getLogger(__name__)

# Until READY the loop looks this often: READY waits on the first full sync of
# every slave, which ends in a pusher's thread, successful or not.
STARTING_TICK = 0.5
STATUS_EVERY = 5.0   # s between STATUS= lines to systemd


def next_wake(runner_due: float, watchdog: float | None, status_lines: bool, starting: bool) -> float:
    """Seconds the loop may sleep: until the runner's next due work, the watchdog's ping, a STATUS= line.

    Anything that comes sooner (a signal, a suspension asked for by another
    thread, a peer check's answer, an acknowledgement to save) wakes it.
    """
    due = runner_due
    if watchdog is not None:
        due = min(due, watchdog)
    if status_lines:
        due = min(due, STATUS_EVERY)
    if starting:
        due = min(due, STARTING_TICK)
    return max(0.0, due)


class Daemon:
    def __init__(self, config_path, node=None):
        self.config_path, self.node = config_path, node
        self.config_stamp = locations.config_stamp(config_path)   # before the read: an edit during it shows
        self.cfg = load_config(config_path, node=node)
        with state_mod.locked(self.cfg):
            self.state = state_mod.load(self.cfg)
            state_mod.save(self.cfg, self.state)  # a first start leaves its state on disk
        self.stopping = threading.Event()
        self.wakeup = wakeup.Wakeup()   # the loop sleeps until due work or this
        self.reload_requested = False
        self.lock = threading.RLock()
        self.runner = None
        self.pending_suspend = None
        self.started = time.time()
        self.prober = Prober()
        # Created once: counters survive a reload.
        self.metrics = Metrics()
        self.notifier = Notifier.from_env()
        self.events = Events(self.cfg, on_event=self.metrics.event)
        self.api = None
        self.resident = None
        self.links = link.Links()   # sessions kept open to the peers (small requests)
        self.ready = False
        self.last_status_line = 0.0

    # --- the shell ------------------------------------------------------------

    def run(self) -> int:
        logs.setup(self.cfg.log_level, self.cfg.node, lambda: self.state.role.value)
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        signal.signal(signal.SIGINT, lambda *_: self._stop())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_later())
        self.wakeup.on_signals()
        server = control.ControlServer(self.cfg.state_dir, self._control_ops())
        self.resident = resident.start(lambda: resident.Loaded(self.cfg, self.config_stamp, self.node),
                                       daemon=self)
        log.info("starting as %s, epoch %d", self.state.role.value, self.state.epoch)
        try:
            self._start_api()
            self.start_runner(claim_ip=True)
            while not self.stopping.is_set():
                with self.lock:
                    sentence = self.cycle()
                if sentence:
                    log.info(sentence)
                self._tell_systemd(sentence)
                self.wakeup.wait(next_wake(self.runner.tick() if self.runner else STARTING_TICK,
                                           self.notifier.watchdog_interval(), self.notifier.listening(),
                                           not self.ready))
        finally:
            self.notifier.stopping()
            if self.resident is not None:
                self.resident.close()
            with self.lock:
                self.stop_runner()
            self.links.close()
            if self.api is not None:
                self.api.close()
            server.close()
            self.prober.close()
            log.info("stopped")
        return 0

    def _stop(self):
        self.stopping.set()
        self.wakeup.set()

    def _reload_later(self):
        self.reload_requested = True
        self.wakeup.set()

    def _start_api(self):
        try:
            self.api = ApiServer(self.cfg.api.listen, self.status, self.metrics)
            self.api.start()
        except OSError as e:
            raise Failed(f"api.listen {self.cfg.api.listen}: {e.strerror or e}") from None

    def _tell_systemd(self, sentence):
        """READY once the role is in place (first reconciliation, first monitor round); keep-alives."""
        self.notifier.watchdog()
        if not self.ready and self.runner is not None and self.runner.ready():
            self.ready = True
            self.notifier.ready(self._summary())
            log.info("ready: %s", self._summary())
        elif self.notifier.listening() and (sentence or time.monotonic() - self.last_status_line > STATUS_EVERY):
            self.last_status_line = time.monotonic()
            self.notifier.status(self._summary())

    def _summary(self) -> str:
        s = self.state
        text = f"{s.role.value}, epoch {s.epoch}"
        slaves = self.status().get("slaves", {})
        lags = [x["lag"] for x in slaves.values()]
        if lags:
            text += ", lag " + ("unknown" if None in lags else f"{max(lags):.1f} s")
        return text

    def cycle(self):
        if self.reload_requested:
            self.reload_requested = False
            return self.reload()
        if self.pending_suspend is not None:
            reason, newer = self.pending_suspend
            self.pending_suspend = None
            if self.state.role is Role.MASTER:
                return failover.suspend(self, reason, newer)
        try:
            return self.runner.cycle() if self.runner else None
        except Error as e:  # one bad round is reported; the next one runs as usual
            return f"cycle failed: {e}"

    def reload(self):
        config_stamp = locations.config_stamp(self.config_path)
        try:
            cfg = load_config(self.config_path, node=self.node)
        except Error as e:
            log.error("reload refused, the running configuration stays: %s", str(e).replace("\n", "; "))
            return None
        self.stop_runner()
        self.links.close()   # they were opened with the old transport settings
        listen_changed = cfg.api.listen != self.cfg.api.listen
        self.cfg, self.config_stamp = cfg, config_stamp
        self.events.cfg = cfg
        logs.set_level(cfg.log_level)
        if listen_changed:
            self.api.close()
            self._start_api()
        self.start_runner(claim_ip=False)
        return f"configuration reloaded from {cfg.path}"

    # --- roles -----------------------------------------------------------------

    def master_node(self):
        """The node this one takes for master: itself, the one it follows, or the configured one."""
        name = self.state.master
        return self.cfg.nodes[name] if name in self.cfg.nodes else self.cfg.initial_master

    def persist(self, role: Role, epoch: int, master: str | None, reason: str, **more):
        def change(s):
            s.role, s.epoch, s.master, s.reason, s.role_since = role, epoch, master, reason, time.time()
            for key, value in more.items():
                setattr(s, key, value)
        self.state = state_mod.update(self.cfg, change)

    def start_runner(self, claim_ip: bool = True, watching=None):
        """watching(): called by a master once its watches are set, before it pushes."""
        role = self.state.role
        if role is Role.MASTER:
            self.runner = MasterRunner(self, claim_ip=claim_ip, watching=watching)
        elif role is Role.SLAVE:
            self.runner = SlaveRunner(self)
        else:
            self.runner = SuspendedRunner(self)
        self.runner.start()
        self.wakeup.set()   # the loop slept for the old runner's due time

    def stop_runner(self):
        if self.runner is not None:
            self.runner.stop()
            self.runner = None

    def request_suspend(self, reason: str, newer: str | None = None):
        """From any thread: suspend at the start of the next cycle (never from a pusher's own thread)."""
        self.pending_suspend = (reason, newer)
        self.wakeup.set()
        return None

    def on_refused(self, peer, refusal):
        """A slave refused our push. A newer epoch there means we were replaced.

        By the rule of the state queries (monitor.newer_master): a suspended
        node's epoch is the one it lost at, and proves nothing newer.
        """
        if newer_master(self.state.epoch, {peer.name: {"role": refusal.role, "epoch": refusal.epoch}}):
            self.request_suspend(f"{peer.name} refused our push at epoch {self.state.epoch}: it knows epoch "
                                 f"{refusal.epoch} ({refusal.reason})", self.state.master)

    # --- control operations ------------------------------------------------------

    def _control_ops(self):
        def locked(fn):
            def call(**kw):
                with self.lock:
                    return fn(**kw)
            return call
        return {
            "status": self.status,
            "wait": self.wait,
            "failover": locked(lambda force=False: {"sentence": failover.manual_failover(self, force)}),
            "switchover": locked(lambda target=None: failover.switchover(self, target)),
            "step_down": locked(lambda epoch, requester: failover.step_down(self, epoch, requester)),
            "takeover": locked(lambda epoch, sender: failover.takeover(self, epoch, sender)),
            "rejoin": locked(self.rejoin),
            "peer_rejoined": self.peer_rejoined,
            "release_brake": locked(self.release_brake),
        }

    def rejoin(self, epoch: int, master: str, reason: str):
        """A finished restore: follow the current master as its slave."""
        if self.state.role is not Role.SUSPENDED:
            raise Failed(f"this node is {self.state.role.value}, not suspended")
        self.stop_runner()
        self.persist(Role.SLAVE, epoch, master, reason, restore=None)
        self.start_runner()
        return {"role": self.state.role.value}

    def peer_rejoined(self, name: str):
        runner = self.runner
        if isinstance(runner, MasterRunner):
            runner.replicator.peer_rejoined(name)
        return {"ok": True}

    def release_brake(self):
        """`fmirror release-brake`: the deletions the brake paused go through once (see brake.py)."""
        runner = self.runner
        if not isinstance(runner, MasterRunner):
            raise Failed(f"this node is {self.state.role.value}: the deletion brake is on the master")
        released = runner.replicator.release_brakes()
        if not released:
            raise Failed("no deletion is paused: nothing to release")
        log.info("deletion brake released by an operator: %s",
                 "; ".join(f"{r['slave']} {r['path']}: {r['deletes']} deletions" for r in released))
        return {"released": released}

    def heard(self, report: dict):
        """A peer's own state, sent with its state query (protocol.peer_report); from the serving thread."""
        runner = self.runner
        if isinstance(runner, MasterRunner):
            runner.heard(report)

    def report(self) -> dict:
        """This node's own state, to send with a state query: what it would answer one."""
        return protocol.state_answer(self.state, self.status())

    def status(self):
        s = self.state
        result = {
            "node": s.node, "role": s.role.value, "epoch": s.epoch, "role_since": s.role_since,
            "master": s.master, "reason": s.reason,
            "daemon": {"running": True, "pid": os.getpid(), "since": self.started},
            "config": self.cfg.path,
            # Requests `fmirror serve` handed to this daemon, those it sent back to the full path,
            # and the pushes opened ahead that wait for their go (warm.py).
            "handoff": self.resident.status() if self.resident is not None else None,
            # Per peer: requests answered over its link, and those sent again the ordinary way.
            "links": self.links.counts(),
            "events": [{"at": t, "event": e, "role": r, "epoch": ep, "detail": d}
                       for t, e, r, ep, d in self.events.recent[-20:]],
        }
        runner = self.runner
        if runner is not None:
            result.update(runner.status())
        return result

    def wait(self, seconds: float):
        deadline = time.monotonic() + seconds
        # Right after a start or a role change the runner may not be in place yet.
        while self.state.role is Role.MASTER and not isinstance(self.runner, MasterRunner):
            if time.monotonic() > deadline:
                return {"replicated": False}
            time.sleep(0.05)
        runner = self.runner
        if self.state.role is not Role.MASTER or not isinstance(runner, MasterRunner):
            raise Failed(f"this node is {self.state.role.value}: only the master has changes to wait for")
        return {"replicated": runner.drain(max(0.0, deadline - time.monotonic()))}
