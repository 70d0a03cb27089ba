"""The benchmark harness keeps working: a quick run reports a number for every scenario and tool.

See quickbench.py for what it asserts and when it runs.
"""

import json

import pytest

from bench.run import main, plan
from quickbench import NUMBER, run_quick, table_rows

QUICK_TIMEOUT = 600


def sections(markdown: str) -> dict:
    """{"## heading" text: its lines}."""
    out, current = {}, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = out.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


def has_number_after_tool(row: dict) -> bool:
    cells = list(row.items())
    after = [cell for name, cell in cells[[name for name, _ in cells].index("tool") + 1:]]
    return any(NUMBER.match(cell) for cell in after)


@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_quick_bench_reports_a_number_for_every_scenario_and_tool(tmp_path):
    found = sections(run_quick("bench.run", tmp_path / "b.md", QUICK_TIMEOUT))
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

    # The same results as two runs' (the second without latency): one report naming both.
    second = {**raw, "meta": {**raw["meta"], "date": "later"},
              "scenarios": {k: v for k, v in raw["scenarios"].items() if k != "latency"}}
    (tmp_path / "second.json").write_text(json.dumps(second))
    assert main(["--merge", str(tmp_path / "bench-results.json"), str(tmp_path / "second.json"),
                 "--out", str(tmp_path / "merged.md")]) == 0
    text = (tmp_path / "merged.md").read_text()
    assert "Put together from 2 runs" in text and "**latency**" in text
    assert set(sections(text)) >= set(plan(quick=True))
    # A merge merged again with a newer run: still every run named, latency from the oldest.
    (tmp_path / "third.json").write_text(json.dumps({**raw, "meta": {**raw["meta"], "date": "latest"},
                                                     "scenarios": {"burst": raw["scenarios"]["burst"]}}))
    assert main(["--merge", str(tmp_path / "bench-results.json"), str(tmp_path / "third.json"),
                 "--out", str(tmp_path / "again.md")]) == 0
    text = (tmp_path / "again.md").read_text()
    assert "Put together from 3 runs" in text and "latest" in text and "**latency**" in text
