"""A peer's own state, told with its state query, spares the master its own query of that peer."""

import json

from fmirror import protocol
from fmirror.config.model import Role
from fmirror.roles import REPORT_FRESH, fresh_reports
from fmirror.state import State

PEERS = ["slave"]


def _report(**change) -> bytes:
    report = protocol.state_answer(State(node="slave", role=Role.SLAVE, epoch=3, role_since=1.0, master="master"),
                                   {"slaves": {}})
    report.update(change)
    return json.dumps(report).encode()


def test_a_slaves_report_is_its_state_answer():
    report = protocol.peer_report(_report(), PEERS)
    assert (report["node"], report["role"], report["epoch"]) == ("slave", "slave", 3)
    assert report["daemon"] == {"running": True, "unsent": 0, "oldest_unsent_age": None}


def test_a_state_answer_sums_the_unsent_changes_of_every_slave():
    st = {"slaves": {"a": {"unsent": 2, "oldest_unsent_age": 1.5}, "b": {"unsent": 1, "oldest_unsent_age": 4.0}}}
    answer = protocol.state_answer(State(node="m", role=Role.MASTER, epoch=1, role_since=0.0), st)
    assert answer["daemon"] == {"running": True, "unsent": 3, "oldest_unsent_age": 4.0}
    assert protocol.state_answer(State(node="m", role=Role.MASTER, epoch=1, role_since=0.0), None)["daemon"] == {
        "running": False}


def test_no_input_or_a_report_that_is_not_a_peers_state_is_ignored():
    assert protocol.peer_report(None, PEERS) is None
    assert protocol.peer_report(b"", PEERS) is None
    assert protocol.peer_report(b"not json", PEERS) is None
    assert protocol.peer_report(b"[1, 2]", PEERS) is None
    assert protocol.peer_report(_report(node="master"), PEERS) is None      # ourselves, or a stranger
    assert protocol.peer_report(_report(role="king"), PEERS) is None
    assert protocol.peer_report(_report(epoch="4"), PEERS) is None
    assert protocol.peer_report(_report(epoch=True), PEERS) is None
    assert protocol.peer_report(_report(epoch=-1), PEERS) is None


def test_only_reports_younger_than_the_freshness_window_spare_a_query():
    reports = {"a": ({"epoch": 1}, 100.0), "b": ({"epoch": 2}, 100.0 - REPORT_FRESH)}
    assert fresh_reports(reports, now=100.0 + REPORT_FRESH / 2) == {"a": {"epoch": 1}}
