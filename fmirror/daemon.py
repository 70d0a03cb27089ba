"""`fmirror daemon`: the small shell around the node's role.

Signals only set flags; the loop runs one cycle at a time and logs the
sentence a cycle returns when it decided something.
"""

import logging
import os
import signal
import threading
import time

from fmirror import control, logs, state as state_mod
from fmirror.config import load_config
from fmirror.config.model import Role
from fmirror.errors import Error, Failed
from fmirror.master import MasterRole

log = logging.getLogger(__name__)

TICK = 0.2


class Daemon:
    def __init__(self, config_path, node=None):
        self.config_path, self.node = config_path, node
        self.cfg = load_config(config_path, node=node)
        with state_mod.locked(self.cfg):
            self.state = state_mod.load(self.cfg)
            state_mod.save(self.cfg, self.state)  # a first start leaves its state on disk
        self.stopping = threading.Event()
        self.reload_requested = False
        self.runner = None
        self.started = time.time()

    # --- the shell ------------------------------------------------------------

    def run(self) -> int:
        logs.setup(self.cfg.log_level, self.cfg.node, lambda: self.state.role.value)
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload_requested", True))
        server = control.ControlServer(self.cfg.state_dir, {"status": self.status, "wait": self.wait})
        log.info("starting as %s, epoch %d", self.state.role.value, self.state.epoch)
        try:
            self._start_role()
            while not self.stopping.is_set():
                sentence = self.cycle()
                if sentence:
                    log.info(sentence)
                self.stopping.wait(TICK)
        finally:
            self._stop_role()
            server.close()
            log.info("stopped")
        return 0

    def cycle(self):
        if self.reload_requested:
            self.reload_requested = False
            return self.reload()
        return self.runner.cycle() if self.runner else None

    def reload(self):
        try:
            cfg = load_config(self.config_path, node=self.node)
        except Error as e:
            log.error("reload refused, the running configuration stays: %s", str(e).replace("\n", "; "))
            return None
        self._stop_role()
        self.cfg = cfg
        logs.set_level(cfg.log_level)
        self._start_role()
        return f"configuration reloaded from {cfg.path}"

    # --- roles -----------------------------------------------------------------

    def _start_role(self):
        if self.state.role is Role.MASTER:
            self.runner = MasterRole(self.cfg, lambda: self.state.epoch)
            self.runner.start()
        else:
            self.runner = None

    def _stop_role(self):
        if self.runner is not None:
            self.runner.stop()
            self.runner = None

    # --- control operations ------------------------------------------------------

    def status(self):
        s = self.state
        result = {
            "node": s.node, "role": s.role.value, "epoch": s.epoch, "role_since": s.role_since,
            "daemon": {"running": True, "pid": os.getpid(), "since": self.started},
            "config": self.cfg.path,
        }
        if self.runner is not None:
            result.update(self.runner.status())
        return result

    def wait(self, seconds: float):
        if self.state.role is not Role.MASTER or self.runner is None:
            raise Failed(f"this node is {self.state.role.value}: only the master has changes to wait for")
        return {"replicated": self.runner.wait(seconds)}
