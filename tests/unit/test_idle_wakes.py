"""An idle daemon sleeps until it has something to do: how long, and what wakes it."""

import os
import signal
import threading
import time

from fmirror.daemon import STARTING_TICK, STATUS_EVERY, next_wake
from fmirror.roles import _Periodic
from fmirror.wakeup import Wakeup


def test_an_idle_ready_daemon_outside_systemd_sleeps_until_its_runner_has_work():
    assert next_wake(600.0, watchdog=None, status_lines=False, starting=False) == 600.0


def test_the_watchdog_and_status_lines_bound_the_sleep_only_under_systemd():
    assert next_wake(600.0, watchdog=15.0, status_lines=False, starting=False) == 15.0
    assert next_wake(600.0, watchdog=None, status_lines=True, starting=False) == STATUS_EVERY


def test_a_starting_daemon_looks_often_for_its_readiness():
    assert next_wake(600.0, watchdog=None, status_lines=False, starting=True) == STARTING_TICK


def test_a_wakeup_set_from_a_signal_handler_ends_the_sleep_at_once():
    wakeup = Wakeup()
    previous = signal.signal(signal.SIGUSR1, lambda *_: wakeup.set())
    try:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        began = time.monotonic()
        wakeup.wait(10.0)
        assert time.monotonic() - began < 5.0
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_wakeups_are_used_up_by_the_wait_they_end():
    wakeup = Wakeup()
    for _ in range(3):
        wakeup.set()
    wakeup.wait(10.0)
    began = time.monotonic()
    wakeup.wait(0.2)
    assert time.monotonic() - began >= 0.15


def test_periodic_runs_at_once_then_every_interval_on_one_thread_and_says_each_result():
    threads, results = [], []
    periodic = _Periodic(lambda: threads.append(threading.get_ident()) or len(threads), 0.05,
                         on_result=lambda: results.append(periodic.result))
    periodic.start()
    deadline = time.monotonic() + 10
    while len(results) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    periodic.stop()
    assert results[:3] == [1, 2, 3]
    assert len(set(threads)) == 1


def test_periodic_sleeps_as_long_as_next_in_says():
    runs = []
    periodic = _Periodic(lambda: runs.append(time.monotonic()), 0.01, next_in=lambda: 0.3)
    periodic.start()
    deadline = time.monotonic() + 10
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    periodic.stop()
    assert runs[1] - runs[0] >= 0.25
