"""Pushes opened ahead (warm.py): the process starts paid before the change, the admission when it is sent."""

import json

from fmirror.lab.wait import wait_until

from test_resident import _arrives, _handoff


def _slave(mirror) -> dict:
    return mirror.status()["slaves"]["slave"]


def _parked(mirror) -> bool:
    return _handoff(mirror)["parked"] >= 1


def test_pushes_go_on_sessions_opened_ahead(mirror):
    _arrives(mirror, "first.txt", "1")
    before = _slave(mirror)["warm_pushes"]
    for i in range(4):
        wait_until(lambda: _parked(mirror), 30, "a push opened ahead, parked on the slave")
        _arrives(mirror, f"f{i}.txt", str(i))
    assert _slave(mirror)["warm_pushes"] >= before + 4
    # Each one was received like any push, and unlisted when it ended.
    wait_until(lambda: not list(mirror.s("/var/lib/fmirror/receivers").iterdir()), 10, "every receive unlisted")


def test_a_push_opened_ahead_is_admitted_when_it_is_sent_not_when_it_opened(mirror):
    _arrives(mirror, "first.txt", "1")
    wait_until(lambda: _parked(mirror), 30, "a push opened ahead, parked on the slave")
    # While it waits, the slave learns of a newer master (epoch 5): the parked push, opened at
    # epoch 1, must be refused as a push sent now would be.
    state = mirror.s("/var/lib/fmirror/state.json")
    state.write_text(json.dumps({**json.loads(state.read_text()), "epoch": 5}))
    warm = _slave(mirror)["warm_pushes"]
    (mirror.m() / "late.txt").write_text("refused")
    log = mirror.lab.log_path("master", "daemon")
    wait_until(lambda: b"lower than this node's epoch 5" in log.read_bytes(), 30, "the refusal in the master's log")
    assert not (mirror.s() / "late.txt").exists()
    st = mirror.status()
    assert st["role"] == "suspended" or st["slaves"]["slave"]["warm_pushes"] == warm + 1, st


def test_without_the_slave_daemon_pushes_go_the_ordinary_way(mirror):
    _arrives(mirror, "first.txt", "1")
    wait_until(lambda: _parked(mirror), 30, "a push opened ahead, parked on the slave")
    mirror.lab.kill_daemon("slave")
    warm = _slave(mirror)["warm_pushes"]
    for i in range(3):
        _arrives(mirror, f"cold{i}.txt", str(i))
    assert _slave(mirror)["warm_pushes"] == warm
    log = mirror.lab.log_path("master", "daemon")
    assert b"pushes go the ordinary way" in log.read_bytes()
