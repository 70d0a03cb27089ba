"""Pushes opened ahead (warm.py): the slave's parking and the master's choice of a session."""

import threading
import time

from fmirror import warm


def _later(seconds, fn, *args):
    t = threading.Timer(seconds, fn, args)
    t.start()
    return t


def test_a_parked_push_goes_on_at_its_go_and_not_before():
    parking, result = warm.Parking(), []
    t = threading.Thread(target=lambda: result.append(parking.park("master", "t1", timeout=5)))
    t.start()
    time.sleep(0.05)
    assert result == [] and parking.count() == 1
    assert parking.go("master", "t1")
    t.join(5)
    assert result == [True] and parking.count() == 0


def test_a_go_that_comes_first_waits_a_moment_for_the_push_to_park():
    parking, result = warm.Parking(), []
    park = _later(0.1, lambda: result.append(parking.park("master", "t1", timeout=5)))
    assert parking.go("master", "t1", wait=2)
    park.join(5)
    assert result == [True]


def test_no_go_in_time_is_no_push():
    parking = warm.Parking()
    assert not parking.park("master", "t1", timeout=0.05)
    assert not parking.go("master", "t1", wait=0.05)   # gone: a late go finds nothing


def test_only_its_sender_can_send_a_parked_push_and_a_ticket_parks_once():
    parking, result = warm.Parking(), []
    t = threading.Thread(target=lambda: result.append(parking.park("master", "t1", timeout=0.5)))
    t.start()
    time.sleep(0.05)
    assert not parking.go("other", "t1", wait=0.05)
    assert not parking.park("master", "t1", timeout=0.05)
    t.join(5)
    assert result == [False]


def test_tickets_are_random_hex_and_checked():
    a, b = warm.new_ticket(), warm.new_ticket()
    assert a != b and warm.valid_ticket(a) and warm.valid_ticket(b)
    assert not warm.valid_ticket("../etc") and not warm.valid_ticket(a.upper()) and not warm.valid_ticket(a[:-1])


class FakeProc:
    def __init__(self, returncode=None):
        self.returncode = returncode
        self.stdin = self.stdout = self.stderr = None
        self.stopped = False

    def poll(self):
        return self.returncode


def _opened(proc, argv, age=0.0):
    opened = warm.Opened()
    opened.sessions[0] = (argv, proc, "t", time.monotonic() - age)
    return opened


def test_a_session_is_used_only_for_the_same_command_line_while_young_and_alive(monkeypatch):
    closed = []
    monkeypatch.setattr(warm, "close", closed.append)
    proc = FakeProc()
    assert _opened(proc, ["rsync", "a"]).take(0, ["rsync", "a"]) == (proc, "t")
    for opened, argv in ((_opened(proc, ["rsync", "a"]), ["rsync", "b"]),                 # another push
                         (_opened(proc, ["rsync", "a"], age=warm.MAX_AGE + 1), ["rsync", "a"]),  # expired there
                         (_opened(FakeProc(12), ["rsync", "a"]), ["rsync", "a"])):        # ended
        assert opened.take(0, argv) is None
        assert opened.take(0, argv) is None     # taken away either way
    assert len(closed) == 3


def test_a_session_that_died_young_sends_pushes_the_ordinary_way_for_a_while(monkeypatch):
    monkeypatch.setattr(warm, "close", lambda proc: None)
    spawned = []
    monkeypatch.setattr(warm.process, "spawn", lambda argv, **kw: spawned.append(argv) or FakeProc())
    opened = _opened(FakeProc(3), ["rsync"])
    assert opened.take(0, ["rsync"]) is None
    opened.open(0, ["rsync"], lambda ticket: ["rsync", ticket])
    assert spawned == [] and opened.sessions == {}
    opened.failed_at -= warm.RETRY_AFTER
    opened.open(0, ["rsync"], lambda ticket: ["rsync", ticket])
    assert len(spawned) == 1 and warm.valid_ticket(spawned[0][1])
