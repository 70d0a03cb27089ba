"""Ahead of lsyncd, behind, or level within the runs' spread."""

from bench import stats
from bench.scenarios import ahead_of_lsyncd, level_note

SPREAD_A = [2.8, 3.1, 3.07, 4.35, 2.9, 3.3, 2.95]
SPREAD_B = [2.16, 3.12, 2.74, 2.5, 3.0, 2.9, 2.6]
APART = [5.0, 5.1, 5.2, 5.05, 5.15]
CLOSE = [1.0, 1.1, 1.05, 1.02, 1.08]


def test_the_interval_of_the_gap_holds_zero_only_when_the_runs_overlap():
    low, high = stats.median_gap_interval(SPREAD_A, SPREAD_B)
    assert low <= 0 <= high
    low, high = stats.median_gap_interval(APART, CLOSE)
    assert 3.5 < low <= high < 4.5
    assert stats.median_gap_interval(SPREAD_A, SPREAD_B) == stats.median_gap_interval(SPREAD_A, SPREAD_B)


def test_level_is_said_only_with_enough_runs_and_overlapping_spreads():
    assert "level within the runs' spread" in level_note(SPREAD_A, SPREAD_B, "s")
    assert level_note(APART, CLOSE, "s") == ""
    assert level_note(SPREAD_A[:3], SPREAD_B[:3], "s") == ""


def _result(ours, theirs):
    return {"rows": [{"tool": "fmirror", "case": "big", "seconds": stats.median(ours), "each": ours},
                     {"tool": "lsyncd (delay 0)", "case": "big", "seconds": stats.median(theirs), "each": theirs}]}


def test_behind_but_level_stays_missed_and_says_level():
    [target] = ahead_of_lsyncd("burst", _result(SPREAD_A, SPREAD_B), "seconds", "time", "s", cases=("big",))
    assert target.met is False and "level within the runs' spread" in target.measured
    [target] = ahead_of_lsyncd("burst", _result(APART, CLOSE), "seconds", "time", "s", cases=("big",))
    assert target.met is False and target.measured == "5.1 s"
    [target] = ahead_of_lsyncd("burst", _result(CLOSE, APART), "seconds", "time", "s", cases=("big",))
    assert target.met is True and target.measured == "1.05 s"
