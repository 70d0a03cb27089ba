"""The monitor's decisions, as pure functions: no network, no processes."""

from fmirror.config.model import FailoverMode
from fmirror.monitor import (Action, Hysteresis, Verdict, View, master_reach, newer_master, next_round,
                             slave_decision)


def _feed(h, rounds):
    return [h.feed(good) for good in rounds]


def test_master_is_down_after_fall_failed_rounds_in_a_row():
    h = Hysteresis(fall=3, rise=2)
    assert _feed(h, [False, False]) == [None, None]
    assert h.last_chance()
    assert h.feed(False) is Verdict.DOWN


def test_a_single_good_round_resets_the_failures():
    h = Hysteresis(fall=3, rise=2)
    _feed(h, [False, False, True, False, False])
    assert h.verdict is Verdict.UP


def test_master_is_up_again_after_rise_good_rounds():
    h = Hysteresis(fall=1, rise=2)
    h.feed(False)
    assert h.feed(True) is None
    assert h.feed(True) is Verdict.UP


def test_slave_promotes_after_fall_failures_when_witness_reachable():
    view = View(witness="198.51.100.254", witness_ok=True, me="beta", first_reachable="beta")
    assert slave_decision(Verdict.DOWN, 3, view).action is Action.PROMOTE


def test_slave_that_cannot_reach_the_witness_stays_slave_and_says_it_is_isolated():
    view = View(witness="198.51.100.254", witness_ok=False, me="beta", first_reachable="beta")
    d = slave_decision(Verdict.DOWN, 3, view)
    assert d.action is Action.ISOLATED and "isolated one" in d.sentence


def test_manual_mode_waits_for_the_operator():
    view = View(mode=FailoverMode.MANUAL, me="beta", first_reachable="beta")
    assert slave_decision(Verdict.DOWN, 3, view).action is Action.WAIT_MANUAL


def test_a_pure_mirror_never_fails_over_by_itself():
    d = slave_decision(Verdict.DOWN, 3, View(failover=False, me="beta", first_reachable="beta"))
    assert d.action is Action.WAIT_MANUAL and "pure mirror" in d.sentence


def test_a_slave_that_reaches_no_other_slave_is_the_isolated_one():
    view = View(other_slaves=(("gamma", False),), me="beta", first_reachable="beta")
    assert slave_decision(Verdict.DOWN, 3, view).action is Action.ISOLATED


def test_only_the_first_reachable_slave_in_config_order_promotes():
    second = View(other_slaves=(("beta", True),), me="gamma", first_reachable="beta")
    assert slave_decision(Verdict.DOWN, 3, second).action is Action.NONE
    first = View(other_slaves=(("gamma", True),), me="beta", first_reachable="beta")
    assert slave_decision(Verdict.DOWN, 3, first).action is Action.PROMOTE


def test_nothing_happens_while_the_master_is_up():
    assert slave_decision(Verdict.UP, 0, View()).action is Action.NONE


def test_master_without_witness_never_gives_up_the_ip_for_lack_of_slaves():
    assert master_reach(False, None, False)
    assert not master_reach(False, "198.51.100.254", False)
    assert master_reach(False, "198.51.100.254", True)
    assert master_reach(True, "198.51.100.254", False)


def test_newer_master_finds_the_highest_epoch_above_ours():
    peers = {"beta": {"epoch": 2, "role": "master"}, "gamma": {"epoch": 3, "role": "slave"}}
    assert newer_master(2, peers) == ("gamma", 3)
    assert newer_master(3, peers) is None


def test_a_suspended_peer_with_a_higher_epoch_is_no_newer_master():
    assert newer_master(2, {"alpha": {"epoch": 7, "role": "suspended"}}) is None


def test_rounds_keep_to_their_grid_unless_far_behind():
    assert next_round(10.0, 10.004, 0.1) == 10.1      # a late wake-up does not shift the next round
    assert next_round(10.0, 10.35, 0.1) == 10.45      # more than a round behind: start afresh
    assert next_round(0.0, 500.0, 0.5) == 500.5       # the first round
