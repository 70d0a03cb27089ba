"""A promotion ends the receives it finds listed (failover.stop_receivers), real processes each time."""

import subprocess
import sys
from types import SimpleNamespace

from fmirror import channel, failover

SLEEP = "import time; time.sleep(60)"


def _listed(tmp_path, argv):
    cfg = SimpleNamespace(state_dir=str(tmp_path))
    proc = subprocess.Popen(argv)
    channel.register(cfg, proc.pid)
    return cfg, proc


def _ended(proc) -> bool:
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True


def test_a_forced_command_listed_but_not_yet_rsync_is_ended_too(tmp_path):
    # The daemon lists the forced command's pid before it execs rsync: caught in between,
    # it would go on to receive, holding the lock the promotion waits for.
    cfg, proc = _listed(tmp_path, [sys.executable, "-c", SLEEP, "serve"])
    assert failover.stop_receivers(cfg) == 1
    assert _ended(proc)


def test_a_running_receiver_is_ended(tmp_path):
    cfg, proc = _listed(tmp_path, [sys.executable, "-c", SLEEP, "--server"])
    assert failover.stop_receivers(cfg) == 1
    assert _ended(proc)


def test_a_listed_pid_running_something_else_is_left_alone(tmp_path):
    cfg, proc = _listed(tmp_path, [sys.executable, "-c", SLEEP])
    try:
        assert failover.stop_receivers(cfg) == 0
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
