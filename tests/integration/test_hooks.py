"""Hooks are real processes: argv lists, FMIRROR_* environment, a deadline that keeps the daemon going."""

import sys
import threading
import time

from fmirror import hooks
from fmirror.config.model import Config, Hooks, Node, Role


def _cfg(tmp_path, **hook_argv):
    nodes = {"alpha": Node("alpha", "198.51.100.1", Role.MASTER, None),
             "beta": Node("beta", "198.51.100.2", Role.SLAVE, None)}
    return Config(path="t.yaml", node="alpha", nodes=nodes, paths=("/srv/www",), hooks=Hooks(**hook_argv),
                  state_dir=str(tmp_path))


def test_hook_gets_its_environment(tmp_path):
    out = tmp_path / "env"
    script = f"import os; open({str(out)!r}, 'w').write(' '.join(os.environ[k] for k in " \
             "('FMIRROR_EVENT', 'FMIRROR_ROLE', 'FMIRROR_EPOCH', 'FMIRROR_NODE')))"
    cfg = _cfg(tmp_path, promote=(sys.executable, "-c", script))
    assert hooks.run(cfg, "promote", cfg.hooks.promote, "promoted", "master", 4)
    assert out.read_text() == "promoted master 4 alpha"


def test_failing_hook_is_reported_not_raised(tmp_path, caplog):
    cfg = _cfg(tmp_path, demote=("false",))
    assert hooks.run(cfg, "demote", cfg.hooks.demote, "demoted", "slave", 2) is False
    assert "demote hook failed" in caplog.text


def test_hanging_hook_is_stopped_at_its_deadline(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(hooks, "HOOK_TIMEOUT", 0.5)
    cfg = _cfg(tmp_path, fence=("sleep", "30"))
    start = time.monotonic()
    assert hooks.run(cfg, "fence", cfg.hooks.fence, "fenced", "slave", 1) is False
    assert time.monotonic() - start < 5
    assert "did not finish" in caplog.text


def test_notify_runs_in_the_background(tmp_path):
    out = tmp_path / "notified"
    cfg = _cfg(tmp_path, notify=(sys.executable, "-c", f"import time; time.sleep(0.5); open({str(out)!r}, 'w')"))
    events = hooks.Events(cfg)
    start = time.monotonic()
    events.emit(hooks.Event.PROMOTED, "master", 2, "test")
    assert time.monotonic() - start < 0.4
    deadline = time.monotonic() + 10
    while not out.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert events.recent[-1][1] == "promoted"


def test_held_notify_hooks_start_at_release_in_order(tmp_path):
    out = tmp_path / "notified"
    cfg = _cfg(tmp_path, notify=(sys.executable, "-c",
                                 f"import os; open({str(out)!r}, 'a').write(os.environ['FMIRROR_EVENT'] + ' ')"))
    events = hooks.Events(cfg)
    earlier = {t for t in threading.enumerate() if t.name == "notify"}   # other tests' hooks, ending
    with events.held():
        events.emit(hooks.Event.MASTER_DOWN, "slave", 1, "test")
        assert events.recent[-1][1] == "master-down"       # logged and counted at once
        started = {t for t in threading.enumerate() if t.name == "notify"} - earlier
        assert not started, "a held hook was started"
        events.release()
        deadline = time.monotonic() + 10
        while not out.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        events.emit(hooks.Event.PROMOTED, "master", 2, "test")   # after release(): at once
        while out.read_text().split() != ["master-down", "promoted"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
