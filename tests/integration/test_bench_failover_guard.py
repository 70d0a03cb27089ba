"""The failover benchmark keeps working: a quick run reports a number for every setting and tool.

It needs keepalived besides; see quickbench.py for what it asserts and when it runs.
"""

import json

import pytest

from bench.failover import RESULTS, plan
from quickbench import NUMBER, run_quick, tables

QUICK_TIMEOUT = 240   # the quick run takes about 90 s on an idle machine; the machine is shared


def table_with(found: list, column: str) -> list:
    matching = [t for t in found if t and column in t[0]]
    assert len(matching) == 1, f"expected one table with a {column!r} column, found {len(matching)}"
    return matching[0]


def assert_numbers(rows: list, expected: list, columns: tuple):
    for setting, tool in expected:
        mine = [r for r in rows if (r["setting"], r["tool"]) == (setting, tool)]
        assert len(mine) == 1, f"no single row for {setting} {tool}"
        for column in columns:
            assert NUMBER.match(mine[0][column]), f"{setting} {tool}: {column} is not a number: {mine[0]}"


@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_quick_failover_bench_reports_a_number_for_every_setting_and_tool(tmp_path):
    found = tables(run_quick("bench.failover", tmp_path / "f.md", QUICK_TIMEOUT))
    expected = plan()
    assert_numbers(table_with(found, "median"), expected["failover"], ("median", "worst", "n"))
    assert_numbers(table_with(found, "promotions"), expected["loss"], ("promotions", "VIP moves"))
    raw = json.loads((tmp_path / RESULTS).read_text())
    assert [(r["setting"], r["tool"]) for r in raw["failover"]] == expected["failover"]
    assert all(r["n"] >= 1 and r["median"] is not None for r in raw["failover"])
    assert [(r["setting"], r["tool"]) for r in raw["loss"]] == expected["loss"]
