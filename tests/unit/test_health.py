import pytest

from fmirror.api import health

BOUND = 10.0


def _slave(state="ok", lag=0.0):
    return {"state": state, "lag": lag, "unsent": 0, "oldest_unsent_age": None}


def _master(**slaves):
    return {"node": "alpha", "role": "master", "epoch": 3, "slaves": slaves}


def test_master_is_healthy_when_every_slave_acknowledged_within_the_bound():
    ok, reason = health(_master(beta=_slave(lag=0.0), gamma=_slave(lag=BOUND)), BOUND)
    assert ok
    assert "2 slave" in reason


@pytest.mark.parametrize("slave,fragment", [
    (_slave(lag=BOUND + 0.5), "lag 10.5 s > 10 s"),
    (_slave(lag=None), "full sync pending"),
    (_slave(state="retrying"), "state retrying"),
    (_slave(state="refused"), "state refused"),
    (_slave(state="starting"), "state starting"),
])
def test_master_is_unhealthy_when_a_slave_is_behind_or_failing(slave, fragment):
    ok, reason = health(_master(beta=_slave(), gamma=slave), BOUND)
    assert not ok
    assert reason.startswith("gamma: ") and fragment in reason
    assert "beta" not in reason


def test_master_reason_names_every_slave_that_is_behind():
    ok, reason = health(_master(beta=_slave(state="retrying"), gamma=_slave(lag=None)), BOUND)
    assert not ok
    assert "beta: state retrying" in reason and "gamma: not acknowledged" in reason


def test_master_without_replication_status_is_unhealthy():
    ok, reason = health({"node": "alpha", "role": "master", "epoch": 1}, BOUND)
    assert (ok, reason) == (False, "replication not running")


def test_slave_is_healthy_when_the_monitor_sees_the_master_up():
    assert health({"role": "slave", "monitor": {"master": "up", "checks": {}}}, BOUND) == (True, "master up")


def test_slave_is_unhealthy_when_the_master_is_down():
    assert health({"role": "slave", "monitor": {"master": "down"}}, BOUND) == (False, "master down")


def test_slave_without_a_monitor_section_is_unknown_not_healthy():
    ok, reason = health({"role": "slave", "epoch": 1}, BOUND)
    assert not ok
    assert "unknown" in reason


def test_suspended_node_waits_for_restore():
    ok, reason = health({"role": "suspended", "epoch": 2}, BOUND)
    assert (ok, reason) == (False, "suspended: awaiting fmirror restore")


@pytest.mark.parametrize("status", [{}, {"role": "king"}])
def test_unknown_role_is_unhealthy(status):
    ok, reason = health(status, BOUND)
    assert not ok
    assert "unknown role" in reason


def test_master_is_unhealthy_while_a_deletion_brake_holds_and_says_what_to_do():
    braked = {**_slave(), "brake": {"path": "/srv/www", "deletes": 5000, "since": 1.0, "held": True}}
    ok, reason = health(_master(beta=braked), BOUND)
    assert not ok
    assert "beta: deletion brake: 5000 deletions under /srv/www paused" in reason and "release-brake" in reason
    assert health(_master(beta={**_slave(), "brake": None}), BOUND)[0]
