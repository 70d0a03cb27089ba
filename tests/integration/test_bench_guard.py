"""The benchmark harness keeps working: a quick run reports a number for every scenario and tool.

It asserts that numbers were produced, never how fast they are: the machine
is shared and the quick sizes mean nothing. Needs root (the lab); outside CI
it skips without root, in CI it must run.
"""

import json
import os
import re
import sys
from pathlib import Path

import pytest

from fmirror import process

from bench.run import plan

REPO = Path(__file__).resolve().parents[2]
QUICK_TIMEOUT = 600
# A measured value as the report prints it: "0.306 s", "1,000", "20.8 MB", "0 %".
NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[+-]?\d+)? ?(s|B|MB|%)?$")


def sections(markdown: str) -> dict:
    """{"## heading" text: its lines}."""
    out, current = {}, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = out.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


def table_rows(lines: list) -> list:
    """Each row of the section's table as {header: cell}."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in lines if line.startswith("|")]
    if not rows:
        return []
    header, body = rows[0], rows[2:]   # rows[1] is the |---| line
    return [dict(zip(header, row)) for row in body]


def has_number_after_tool(row: dict) -> bool:
    cells = list(row.items())
    after = [cell for name, cell in cells[[name for name, _ in cells].index("tool") + 1:]]
    return any(NUMBER.match(cell) for cell in after)


@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_quick_bench_reports_a_number_for_every_scenario_and_tool(tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the bench guard must run in CI, and the lab needs root")
        pytest.skip("the benchmark lab needs root")
    out = tmp_path / "b.md"
    result = process.run([sys.executable, "-m", "bench.run", "--quick", "--out", out],
                         cwd=REPO, timeout=QUICK_TIMEOUT, check=False)
    assert result.returncode == 0, process.stderr_tail(result.stderr, 20)
    found = sections(out.read_text())
    for scenario, tools in plan(quick=True).items():
        assert scenario in found, f"no section for {scenario}"
        rows = table_rows(found[scenario])
        for tool in tools:
            mine = [row for row in rows if row.get("tool") == tool]
            assert mine, f"{scenario}: no row for {tool}"
            for row in mine:
                assert has_number_after_tool(row), f"{scenario}: {tool}: no number in {row}"
    raw = json.loads((tmp_path / "bench-results.json").read_text())
    assert set(raw["scenarios"]) == set(plan(quick=True))
