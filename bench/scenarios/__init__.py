"""The scenarios: each a module with run(bench) -> result, section(result) -> Markdown lines,
targets(result) -> [Target], and optionally plot(result, path).

A result is plain JSON data: {"reference": tool name, "rows": [{"tool": ..., ...}]}.
"""

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from fmirror.errors import Error
from fmirror.lab import Lab

from bench import converge, stats
from bench.markdown import num
from bench.tools import MASTER, ROOT, SLAVE


log = logging.getLogger("bench")


@dataclass
class Bench:
    lab: Lab
    quick: bool
    scale_files: int

    def m(self, rel: str = "") -> Path:
        """A path under the master's mirrored root, on the real filesystem."""
        return self.lab[MASTER].path(ROOT) / rel

    def s(self, rel: str = "") -> Path:
        return self.lab[SLAVE].path(ROOT) / rel

    @property
    def workdir(self) -> Path:
        return self.lab.workdir


@dataclass
class Target:
    """One of the DESIGN's targets, as measured."""
    scenario: str
    what: str
    goal: str
    measured: str
    met: bool | None      # None: not measured in this run

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def attempt(run_one, tool_name: str, **labels) -> dict:
    """run_one() -> a row; a tool that failed (never converged, never started) becomes a row that says so.

    One tool's failure is a result to report, and the other tools still run.
    """
    try:
        return run_one()
    except Error as error:   # fmirror's errors: Failed (timeouts), CommandError (rsync), ...
        log.warning("bench: %s %s: %s", tool_name, " ".join(map(str, labels.values())), error)
        return {"tool": tool_name, **labels, "failed": str(error)}


def turns(names: list, rounds: int) -> list:
    """Every name once a round, in an order turned by one each round: no tool always runs first."""
    return [name for r in range(rounds) for name in names[r % len(names):] + names[:r % len(names)]]


def medians(trials: list, keys=("seconds",)) -> list:
    """One row per tool (and case): the median of each key over its trials that have it (None: none has),
    every trial's seconds, failures, differences."""
    rows = []
    for key in dict.fromkeys((t["tool"], t.get("case")) for t in trials):
        mine = [t for t in trials if (t["tool"], t.get("case")) == key]
        done = [t for t in mine if t.get("seconds") is not None]
        row = {"tool": key[0], **({"case": key[1]} if key[1] is not None else {}),
               **{k: stats.median([t[k] for t in done if t.get(k) is not None]) for k in keys},
               "each": [t["seconds"] for t in done],
               "differs": [d for t in mine for d in t.get("differs") or []]}
        failed = [t["failed"] for t in mine if t.get("failed")]
        if failed:
            row["failed"] = f"{len(failed)} of {len(mine)} runs: {failed[0]}"
        rows.append(row)
    return rows


def failures(result: dict) -> list:
    """Markdown lines naming the rows whose tool failed, or left the trees different, and how."""
    out = []
    for r in result["rows"]:
        who = f"- **{r['tool']}**" + (f" ({r['case']})" if r.get("case") else "")
        if r.get("failed"):
            out.append(f"{who}: failed: {r['failed']}")
        if r.get("differs"):
            out.append(f"{who}: converged, but the trees still differ {converge.COMPARE_TIMEOUT} s later: "
                       + "; ".join(f"`{d}`" for d in r["differs"]))
    return out


def rows_of(result: dict, **match) -> list:
    return [r for r in result["rows"] if all(r.get(k) == v for k, v in match.items())]


def lsyncd_rows(result: dict, **match) -> list:
    return [r for r in rows_of(result, **match) if r["tool"].startswith("lsyncd")]


def ahead_of_lsyncd(scenario: str, result: dict, key: str, what: str, unit: str, cases=(None,)) -> list:
    """fmirror's `key` at or below the best lsyncd's, case by case (rows' "case"; lower is better).

    At or below: two tools both at a meter's floor are level, and neither behind.
    Behind on times of several runs each: whether the runs can tell the two apart (level_note).
    """
    out = []
    for case in cases:
        match = {"case": case} if case is not None else {}
        ours = [r for r in rows_of(result, tool="fmirror", **match) if r.get(key) is not None]
        theirs = sorted((r for r in lsyncd_rows(result, **match) if r.get(key) is not None), key=lambda r: r[key])
        label = f"{what} ({case})" if case is not None else what
        if not ours or not theirs:
            out.append(Target(scenario, f"ahead of lsyncd: {label}", "below best lsyncd", "-", None))
            continue
        mine, best = ours[0], theirs[0]
        met = mine[key] <= best[key]
        measured = num(mine[key], unit=unit)
        if not met and key == "seconds":
            measured += level_note(mine.get("each", []), best.get("each", []), unit)
        out.append(Target(scenario, f"ahead of lsyncd: {label}", f"≤ {num(best[key], unit=unit)}", measured, met))
    return out


# Fewer runs a side than this and a resampled median says little.
MIN_RUNS_TO_COMPARE = 5


def level_note(ours: list, theirs: list, unit: str) -> str:
    """", level within the runs' spread (...)" when the bootstrap interval of the gap holds 0, else ""."""
    if min(len(ours), len(theirs)) < MIN_RUNS_TO_COMPARE:
        return ""
    low, high = stats.median_gap_interval(ours, theirs)
    if not low <= 0 <= high:
        return ""
    return (f", level within the runs' spread (the gap of the medians, resampled: "
            f"{num(low, unit=unit)} to {num(high, unit=unit)} in 95 %)")
