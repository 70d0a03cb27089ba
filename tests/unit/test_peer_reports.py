"""A peer's own state, told with its state query, spares the master its own query of that peer."""

import json

from fmirror import protocol
from fmirror.config.model import Role
from fmirror.roles import PEER_CHECK_INTERVAL, REPORT_FRESH, fresh_reports, next_check
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


def test_the_master_checks_again_when_the_first_told_report_goes_stale_not_before():
    """An idle master whose slave tells its state with each query has nothing to ask: it wakes half as often."""
    reports = {"a": ({"epoch": 1}, 100.0), "b": ({"epoch": 1}, 103.0)}
    assert next_check(reports, ["a", "b"], now=101.0) == 100.0 + REPORT_FRESH - 101.0
    # Never more often than the interval, even with a report about to go stale.
    assert next_check(reports, ["a", "b"], now=100.0 + REPORT_FRESH - 0.1) == PEER_CHECK_INTERVAL


def test_a_peer_that_told_nothing_is_asked_every_interval():
    assert next_check({"a": ({"epoch": 1}, 100.0)}, ["a", "b"], now=100.0) == PEER_CHECK_INTERVAL
    assert next_check({}, ["a"], now=100.0) == PEER_CHECK_INTERVAL
