"""The bench's rounds: tools take turns, and a row is the median of its tool's runs."""

from bench.scenarios import medians, turns


def test_each_round_starts_with_the_next_tool():
    assert turns(["a", "b", "c"], 4) == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]


def test_a_row_is_the_median_of_its_runs_and_names_failures_and_differences():
    trials = [{"tool": "x", "seconds": 3.0}, {"tool": "y", "seconds": 1.0},
              {"tool": "x", "seconds": 1.0, "differs": ["f"]}, {"tool": "x", "failed": "timed out"},
              {"tool": "x", "seconds": 2.0}]
    x, y = medians(trials)
    assert x == {"tool": "x", "seconds": 2.0, "each": [3.0, 1.0, 2.0], "differs": ["f"],
                 "failed": "1 of 4 runs: timed out"}
    assert y == {"tool": "y", "seconds": 1.0, "each": [1.0], "differs": []}


def test_cases_are_rows_of_their_own_with_every_key_asked_for():
    trials = [{"tool": "x", "case": "small", "seconds": 1.0, "write_seconds": 0.5},
              {"tool": "x", "case": "big", "seconds": 4.0, "write_seconds": 2.0}]
    rows = medians(trials, ("seconds", "write_seconds"))
    assert [(r["case"], r["seconds"], r["write_seconds"]) for r in rows] == [("small", 1.0, 0.5), ("big", 4.0, 2.0)]


def test_a_key_some_runs_lack_is_the_median_of_those_that_have_it():
    trials = [{"tool": "x", "seconds": 1.0, "bytes": None}, {"tool": "x", "seconds": 2.0, "bytes": 10},
              {"tool": "x", "seconds": 3.0, "bytes": 30}, {"tool": "y", "seconds": 1.0, "bytes": None}]
    x, y = medians(trials, ("seconds", "bytes"))
    assert (x["seconds"], x["bytes"], y["bytes"]) == (2.0, 20, None)
