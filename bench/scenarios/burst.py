"""Burst: many files written at once; time from the first write until the slave holds them all.

The live tools watch while the burst is written. One-shot rsync starts the
moment the writing ends: the practical limit for anyone who knows when a
burst is over, and the reference.
"""

import time

from bench import converge, stats, workload
from bench.markdown import num, table, times
from bench.scenarios import Bench, Target, ahead_of_lsyncd, attempt, medians, rows_of, turns
from bench.tools import Rsync, live_tool_names, live_tools
from bench.workload import Burst

NAME = "burst"
KiB, MB = 1 << 10, 10**6
BURSTS = (Burst(0, 20_000, 4 * KiB), Burst(0, 10, 50 * MB), Burst(1000, 50, 4 * KiB))
QUICK_BURSTS = (Burst(0, 2_000, 4 * KiB), Burst(0, 2, 10 * MB), Burst(50, 20, 4 * KiB))
START_TIMEOUT = 120
ARRIVAL_TIMEOUT = 300    # every tool converges within a minute; a hung one is reported as failed
# Each tool runs each burst this many times, in an order turned by one every round, and the
# median counts: on this machine the same writer took from 1 to 4.4 s alone, from one run to
# the next, so one run per tool compared the machine's moods as much as the tools.
ROUNDS, QUICK_ROUNDS = 3, 1
# A burst of few big files takes seconds a run, and its runs spread as widely (±10 % here)
# as the tools differ: more of them cost little and make the median worth comparing.
BIG_FILES, BIG_ROUNDS = 10, 7


def tool_names(quick: bool) -> list:
    """The rows this scenario's table has, by tool."""
    return [Rsync.name] + live_tool_names(quick)


def run(bench: Bench) -> dict:
    trials = []
    tools = {tool.name: tool for tool in [Rsync(bench.lab)] + live_tools(bench.lab, bench.quick)}
    for burst in QUICK_BURSTS if bench.quick else BURSTS:
        for name in turns(list(tools), rounds(burst, bench.quick)):
            trials.append(attempt(lambda: one_run(bench, tools[name], burst), name, case=burst.label))
    return {"reference": Rsync.name, "rows": medians(trials, ("seconds", "write_seconds")), "trials": trials}


def rounds(burst: Burst, quick: bool) -> int:
    if quick:
        return QUICK_ROUNDS
    return BIG_ROUNDS if burst.files * max(burst.dirs, 1) <= BIG_FILES else ROUNDS


def one_run(bench: Bench, tool, burst: Burst) -> dict:
    workload.fresh(bench.lab)
    if tool.live:
        tool.start(START_TIMEOUT)
    try:
        began = time.monotonic()
        manifest = workload.write_burst(bench.m(), burst)
        written = time.monotonic()
        if not tool.live:
            tool.sync()
        arrived = converge.wait_arrived(bench.s(), manifest, ARRIVAL_TIMEOUT)
    finally:
        if tool.live:
            tool.stop()
    return {"tool": tool.name, "case": burst.label, "seconds": arrived - began,
            "write_seconds": written - began,
            "differs": converge.verify(bench.m(), bench.s())}


def section(result: dict) -> list:
    lines = ["Time from the first write of the burst until the slave holds every file (then a full "
             "compare of content, modes and mtimes); the median of each tool's runs, every run's time "
             "in the last column (the tools take turns, in an order turned by one each round). "
             "One-shot rsync starts when the writes end. The "
             "writer is the same for every tool, but the time it takes (\"writing\") is not: a live "
             "tool works beside it on the same cores, and so do other people's tests on this shared "
             "machine. \"Last write → converged\" is how long the slave lagged once the writing was "
             f"over (for rsync: its run time). Ratio: of the first column, to {result['reference']} "
             "(lower is better).", ""]
    rows = []
    for r in result["rows"]:
        ref = rows_of(result, tool=result["reference"], case=r["case"])
        lag = r["seconds"] - r["write_seconds"] if r.get("seconds") is not None else None
        rows.append([r["case"], r["tool"], num(r.get("write_seconds"), unit="s"),
                     num(r.get("seconds"), unit="s"), num(lag, unit="s"),
                     times(stats.ratio(r.get("seconds"), ref[0].get("seconds") if ref else None)),
                     ", ".join(num(v) for v in r.get("each", [])) or "-"])
    return lines + table(["burst", "tool", "writing", "first write → converged", "last write → converged",
                          "ratio", "runs (s)"], rows)


def cases(result: dict) -> list:
    return list(dict.fromkeys(r["case"] for r in result["rows"]))


def targets(result: dict) -> list:
    out = []
    for case in cases(result):
        ours = rows_of(result, tool="fmirror", case=case)
        ref = rows_of(result, tool=result["reference"], case=case)
        value = stats.ratio(ours[0].get("seconds"), ref[0].get("seconds")) if ours and ref else None
        out.append(Target(NAME, f"{case}: time vs one-shot rsync", "≤ 1.20×", times(value),
                          None if value is None else value <= 1.2))
    return out + ahead_of_lsyncd(NAME, result, "seconds", "time", "s", cases=cases(result))
