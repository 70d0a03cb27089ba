"""The report: Markdown with one table per scenario, the DESIGN's targets, plots, raw JSON beside it."""

import json
import os
import platform
import shutil
from pathlib import Path

import psutil

from fmirror import process

from bench import REPO, disk
from bench.markdown import table
from bench.scenarios import failures

MET = {True: "met", False: "**missed**", None: "not measured"}
FINDINGS = Path(__file__).with_name("findings.md")
RESULTS = "bench-results.json"   # beside the report


def first_line(argv) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    result = process.run(argv, check=False)
    lines = (result.stdout or result.stderr).decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "?"


def fmirror_version() -> str:
    """The commit measured, and whether fmirror/ had uncommitted changes (others edit it meanwhile)."""
    head = process.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=False)
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = process.run(["git", "status", "--porcelain", "--", "fmirror"], cwd=REPO, check=False).stdout
    return head.text.strip() + (" plus uncommitted changes in fmirror/" if dirty.strip() else "")


INOTIFY_QUEUE = "/proc/sys/fs/inotify/max_queued_events"
# The kernel's default. A lab test lowers it to 8 for a moment (an overflow on purpose); one
# killed before it restored the value leaves every tool overflowing on every burst.
MIN_INOTIFY_QUEUE = 16384


def inotify_queue() -> int:
    with open(INOTIFY_QUEUE) as f:
        return int(f.read())


def unfit_reason() -> str | None:
    """Why this machine would measure nothing worth reporting, or None."""
    queue = inotify_queue()
    if queue < MIN_INOTIFY_QUEUE:
        return (f"fs.inotify.max_queued_events is {queue}, below the kernel's default {MIN_INOTIFY_QUEUE}: "
                f"restore it (echo {MIN_INOTIFY_QUEUE} > {INOTIFY_QUEUE})")
    return None


def machine() -> dict:
    return {"nproc": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "rsync": first_line(["rsync", "--version"]), "lsyncd": first_line(["lsyncd", "--version"]),
            "loadavg": os.getloadavg(), "inotify_queue": inotify_queue()}


def pyplot_or_none():
    """matplotlib's pyplot when installed (a bench-only dependency: bench/requirements.txt)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")   # no display in a lab run
    from matplotlib import pyplot
    return pyplot


def write(out: Path, meta: dict, results: dict, scenarios: dict):
    """out (Markdown), RESULTS and bench-<scenario>.png beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = [t for name, result in results.items() for t in scenarios[name].targets(result)]
    plots = _plots(out, results, scenarios)
    raw = {"meta": meta, "targets": [t.as_dict() for t in targets], "scenarios": results}
    out.with_name(RESULTS).write_text(json.dumps(raw, indent=1) + "\n")
    out.write_text("\n".join(_markdown(meta, results, scenarios, targets, plots)) + "\n")


def _plots(out: Path, results: dict, scenarios: dict) -> dict:
    pyplot = pyplot_or_none()
    plots = {}
    for name, result in results.items():
        plot = getattr(scenarios[name], "plot", None)
        if plot is not None and pyplot is not None:
            path = out.with_name(f"bench-{name}.png")
            plot(result, path, pyplot)
            plots[name] = path.name
    return plots


def merged(runs: list) -> tuple:
    """(meta, results) of several runs' raw results: each scenario from the last run that has it.

    A file that is itself a merge counts as the runs it names, in their order.
    """
    runs = [single for raw in runs for single in _single_runs(raw)]
    results, source = {}, {}
    for i, raw in enumerate(runs):
        for name, result in raw["scenarios"].items():
            results[name], source[name] = result, i
    metas = [{**raw["meta"], "scenarios": [n for n in results if source[n] == i]} for i, raw in enumerate(runs)]
    return {"runs": [m for m in metas if m["scenarios"]]}, results


def _single_runs(raw: dict) -> list:
    if "runs" not in raw["meta"]:
        return [raw]
    return [{"meta": {k: v for k, v in meta.items() if k != "scenarios"},
             "scenarios": {name: raw["scenarios"][name] for name in meta["scenarios"]}}
            for meta in raw["meta"]["runs"]]


def _provenance(meta: dict) -> list:
    if "runs" not in meta:
        return _run_lines(meta) + [""]
    lines = [f"Put together from {len(meta['runs'])} runs (`python -m bench.run --merge`), "
             "each scenario from one run:", ""]
    for run in meta["runs"]:
        lines += [f"**{', '.join(run['scenarios'])}**", ""] + _run_lines(run) + [""]
    return lines


def _run_lines(meta: dict) -> list:
    m = meta["machine"]
    return [f"- command: `{meta['command']}`" + (" (quick: small sizes, not for comparison)" if meta["quick"] else ""),
            f"- date: {meta['date']} UTC; the run took {meta['seconds']:.0f} s",
            f"- fmirror: commit {meta['fmirror']}",
            f"- machine: {m['nproc']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}, "
            f"inotify queue {m.get('inotify_queue', '?')} events",
            f"- {m['rsync']}; lsyncd {m['lsyncd']}",
            # Runs before bench/disk.py wrote on the host's own directory.
            f"- lab filesystem: {meta.get('lab_filesystem', disk.HOST_DIR)}",
            f"- load average before / after: {_load(meta['load_before'])} / {_load(meta['load_after'])}"]


def _markdown(meta: dict, results: dict, scenarios: dict, targets: list, plots: dict) -> list:
    lines = ["# fmirror benchmarks", "",
             "fmirror beside its peers on the same lab hosts (network + mount namespaces on one "
             "machine, a veth bridge between them, real sshd), one tool after another on fresh "
             "trees. Generated by the harness in `bench/`: do not edit by hand.", "",
             *_provenance(meta),
             "**Caveat:** the machine is shared with other engineers running test suites at the same "
             "time, so every number carries their noise; the load averages above hint at how much. "
             "Compare tools within one run, not across runs.", ""]
    lines += ["## Targets (the benchmarks issue; restore's is our own)", ""]
    lines += table(["scenario", "target", "goal", "fmirror", "verdict"],
                   [[t.scenario, t.what, t.goal, t.measured, MET[t.met]] for t in targets])
    for name, result in results.items():
        lines += ["", f"## {name}", ""] + scenarios[name].section(result)
        if failures(result):
            lines += [""] + failures(result)
        if name in plots:
            lines += ["", f"![{name}]({plots[name]})"]
    lines += ["", "## Failover", "",
              "Failover beside keepalived has its own harness and report: `python -m bench.failover`, "
              "results in [benchmarks-failover.md](benchmarks-failover.md).", ""]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().rstrip()]
    return lines


def _load(loadavg) -> str:
    return " ".join(f"{x:.2f}" for x in loadavg)
