"""Latency: a writer on the master makes small files at a steady rate; how soon is each on the slave.

The writer (bench/writer.py) notes when it closed each version of each file;
a probe on the slave (bench/probe.py) notes when each version arrived
complete. Both hosts read one monotonic clock (namespaces of one machine).
A version counts as arrived when it or a later version of the same file did:
a mirror may rightly skip a version that was overwritten before it was sent.
Only the live tools take part: rsync in a loop would be no fair peer.
"""

import json
import sys
from pathlib import Path

from fmirror import process
from fmirror.errors import Failed
from fmirror.lab.wait import wait_until

from bench import converge, stats, workload
from bench.markdown import num, table, times
from bench.scenarios import Bench, Target, ahead_of_lsyncd, attempt, rows_of
from bench.tools import MASTER, ROOT, SLAVE, live_tool_names, live_tools
from bench.writer import size_of

NAME = "latency"
RATES = (20, 200)
SECONDS, QUICK_SECONDS = 60, 5
DIR = "lat"
SCRIPTS = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120
TAIL = 60                  # after the writer stops, how long a tool may take to deliver the rest
PROBE_READY_TIMEOUT = 10
REFERENCE = "lsyncd (delay 0)"


def tool_names(quick: bool) -> list:
    """The rows this scenario's table has, by tool."""
    return live_tool_names(quick)


def run(bench: Bench) -> dict:
    seconds = QUICK_SECONDS if bench.quick else SECONDS
    rows = []
    for tool in live_tools(bench.lab, bench.quick):
        for rate in RATES:
            rows.append(attempt(lambda: one_run(bench, tool, rate, seconds), tool.name,
                                rate=rate, case=case_of(rate)))
    return {"reference": REFERENCE, "seconds": seconds, "rows": rows}


def one_run(bench: Bench, tool, rate: int, seconds: float) -> dict:
    lab = bench.lab
    out = bench.workdir / "latency" / f"{tool.name.replace(' ', '_')}-{rate}"
    out.mkdir(parents=True, exist_ok=True)
    workload.fresh(lab)
    bench.m(DIR).mkdir()
    tool.start(START_TIMEOUT)
    try:
        wait_until(bench.s(DIR).is_dir, START_TIMEOUT, f"{DIR}/ on the slave")
        probe = lab[SLAVE].spawn([sys.executable, SCRIPTS / "probe.py", f"{ROOT}/{DIR}",
                                  out / "ready", out / "seen.json"], lab.log_path(SLAVE, "probe"))
        try:
            wait_until((out / "ready").exists, PROBE_READY_TIMEOUT, "the latency probe watching")
            written = write(lab, rate, seconds, out / "writes.json")
            try:
                converge.wait_arrived(bench.s(DIR), final_sizes(written["writes"]), TAIL + tool.delay)
            except Failed:
                pass   # what never arrived is counted below, not a crash
        finally:
            process.stop(probe)   # on SIGTERM it writes what it saw
    finally:
        tool.stop()
    seen = json.loads((out / "seen.json").read_text())["seen"]
    return summary(tool.name, rate, written, seen)


def write(lab, rate: int, seconds: float, out: Path) -> dict:
    """Run the writer inside the master until it is done; what it wrote, and when."""
    log = lab.log_path(MASTER, "writer")
    writer = lab[MASTER].spawn([sys.executable, SCRIPTS / "writer.py", f"{ROOT}/{DIR}",
                                str(rate), str(seconds), out], log)
    try:
        wait_until(lambda: writer.poll() is not None, seconds + 30, "the latency writer")
    finally:
        process.stop(writer)
    if writer.returncode != 0:
        raise Failed(f"latency writer exited with {writer.returncode}, see {log}")
    return json.loads(out.read_text())


def final_sizes(writes) -> dict:
    """{name: size of its last version}: what the slave holds once the tool caught up."""
    last = {}
    for name, version, _ in writes:
        last[name] = max(version, last.get(name, 0))
    return {name: size_of(version) for name, version in last.items()}


def latencies(writes, seen) -> tuple[list, int]:
    """(seconds from close to arrival of each write, how many never arrived)."""
    arrived = {}
    for name, version, at in seen:
        arrived.setdefault(name, []).append((version, at))
    lats, missing = [], 0
    for name, version, closed in writes:
        arrivals = [at for v, at in arrived.get(name, ()) if v >= version]
        if arrivals:
            lats.append(min(arrivals) - closed)
        else:
            missing += 1
    return lats, missing


def case_of(rate: int) -> str:
    return f"{rate} files/s"


def summary(tool: str, rate: int, written: dict, seen) -> dict:
    lats, missing = latencies(written["writes"], seen)
    return {"tool": tool, "rate": rate, "case": case_of(rate), "writes": len(written["writes"]), "writer_late": written["late"],
            "p50": stats.percentile(lats, 50), "p99": stats.percentile(lats, 99),
            "max": max(lats, default=None), "never_seen": missing, "quantiles": stats.quantiles(lats)}


def section(result: dict) -> list:
    lines = [f"A writer on the master creates 2 KiB files and rewrites every fourth one in place, "
             f"at a steady rate for {result['seconds']:g} s; a probe on the slave notes when each "
             f"version arrives complete. Ratio: to {result['reference']} at the same rate "
             f"(lower is better).", ""]
    rows = []
    for r in result["rows"]:
        ref = rows_of(result, tool=result["reference"], rate=r["rate"])
        ref = ref[0] if ref else {}
        rows.append([r["tool"], f"{r['rate']}/s", num(r.get("writes")), num(r.get("p50"), unit="s"),
                     num(r.get("p99"), unit="s"), num(r.get("max"), unit="s"), num(r.get("never_seen")),
                     times(stats.ratio(r.get("p50"), ref.get("p50"))),
                     times(stats.ratio(r.get("p99"), ref.get("p99")))])
    return lines + table(["tool", "rate", "writes", "p50", "p99", "max", "never seen",
                          "p50 ratio", "p99 ratio"], rows)


def targets(result: dict) -> list:
    out = []
    ours = rows_of(result, tool="fmirror", rate=20)
    for key, goal in (("p50", 0.3), ("p99", 1.0)):
        value = ours[0].get(key) if ours else None
        out.append(Target(NAME, f"{key} at 20 files/s", f"≤ {goal:g} s", num(value, unit="s"),
                          None if value is None else value <= goal))
    for key in ("p50", "p99"):
        out += ahead_of_lsyncd(NAME, result, key, key, "s", cases=[case_of(rate) for rate in RATES])
    return out


def plot(result: dict, path: Path, pyplot) -> None:
    """The latency distribution of each tool, one panel per rate (log scale: lsyncd waits seconds)."""
    fig, axes = pyplot.subplots(1, len(RATES), figsize=(11, 4), sharey=True)
    for ax, rate in zip(axes, RATES):
        for r in rows_of(result, rate=rate):
            if r.get("quantiles") and r["quantiles"][0] is not None:
                ax.plot(r["quantiles"], range(0, 101), label=r["tool"])
        ax.set_xscale("log")
        ax.set_title(f"{rate} files/s")
        ax.set_xlabel("close on master → complete on slave (s)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("percent of writes")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
