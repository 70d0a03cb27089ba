"""Scale: N files in N/10 directories, already in sync on both hosts: the cost of starting and idling.

fmirror: daemon start → READY, i.e. every slave had its first full sync and
nothing is unsent (`fmirror status --json`; the time is the status's own
last_full_sync stamp, so polling gently costs no precision); its peak RSS
(VmHWM, exact); CPU while idle; the latency of one change deep in the tree.
lsyncd, at its default delay and at delay 0: start → its startup rsync
finished, peak RSS, idle CPU; at delay 0 also one change (at its default
it waits 15 s by design, as the latency scenario shows). Idle CPU is all
that both hosts ran (bench.hostcpu); fmirror also watches for failover,
so lsyncd at delay 0 idles once more beside keepalived, the pair it
replaces. The reference is `rsync -an --delete` over the same tree: the
cost of comparing. Every tool runs on a warm page cache: the tree was
just written.
"""

import re
import time

from fmirror.lab.wait import wait_until

from bench import keepalived, measure, stats, workload
from bench.markdown import num, table, times
from bench.scenarios import Bench, Target, ahead_of_lsyncd, attempt, rows_of
from bench.tools import LSYNCD_DEFAULT_DELAY, MASTER, STATUS_POLL, Fmirror, Lsyncd, Rsync

NAME = "scale"
FILES, QUICK_FILES = 1_000_000, 10_000
IDLE, QUICK_IDLE = 60, 5
START_TIMEOUT = 3600
SETTLE = 2.0            # after READY, before idling is measured: let the last children exit
CHANGES = 5
CHANGE_TIMEOUT = 30
CHANGE_POLL = 0.002
MB = 10**6
REFERENCE = "rsync -an"
# keepalived at its default advert interval, as the failover report's defaults run it.
ADVERT_INT = 1.0
# Named keepalived first: it is no lsyncd row (scenarios.lsyncd_rows).
PAIR = f"keepalived (advert {ADVERT_INT:g} s) + lsyncd (delay 0)"
KEEPALIVED_SETTLE = 5.0   # it takes the floating IP within ~3 adverts: idle is after that
_WATCHING = re.compile(r"watching \d+ paths .* in ([\d.]+) s")


# lsyncd as its users run it, and at delay 0, the setting that competes on one change.
LSYNCD_DELAYS = (LSYNCD_DEFAULT_DELAY, 0)


def tool_names(quick: bool) -> list:
    """The rows this scenario's table has, by tool."""
    return [REFERENCE, Fmirror.name] + [Lsyncd.name_for(delay) for delay in LSYNCD_DELAYS] + [PAIR]


def run(bench: Bench) -> dict:
    idle = QUICK_IDLE if bench.quick else IDLE
    workload.fresh(bench.lab)
    began = time.monotonic()
    dirs = workload.write_scale_tree([bench.m(), bench.s()], bench.scale_files)
    prepared = time.monotonic() - began
    try:
        rows = [{"tool": REFERENCE, "ready_seconds": Rsync(bench.lab).sync(dry_run=True)},
                attempt(lambda: fmirror_run(bench, idle), Fmirror.name)]
        rows += [attempt(lambda d=delay: lsyncd_run(bench, idle, d), Lsyncd.name_for(delay))
                 for delay in LSYNCD_DELAYS]
        rows.append(attempt(lambda: pair_run(bench, idle), PAIR))
    finally:
        workload.fresh(bench.lab)   # millions of files must not outlive the scenario
    return {"reference": REFERENCE, "files": bench.scale_files, "dirs": dirs,
            "prepare_seconds": prepared, "idle_seconds": idle, "rows": rows}


def fmirror_run(bench: Bench, idle: float) -> dict:
    tool = Fmirror(bench.lab)
    log = bench.lab.log_path(MASTER, "daemon")
    log_start = log.stat().st_size if log.exists() else 0
    began = time.time()
    tool.launch()
    try:
        st = wait_until(tool.ready, START_TIMEOUT, "fmirror READY", interval=STATUS_POLL)
        slaves = st["slaves"].values()
        ready = max(s["last_full_sync"] for s in slaves) - began
        full_sync = max(s["last_full_sync_seconds"] for s in slaves)
        time.sleep(SETTLE)   # a fixed pause before measuring idleness, nothing to wait for
        idle_use = measure.idle_use(bench.lab, tool.pid, idle)
        changes = change_latencies(bench, tool.name)
        rss = measure.peak_rss(tool.pid)
    finally:
        tool.stop()
    return {"tool": tool.name, "ready_seconds": ready, "full_sync_seconds": full_sync,
            "watch_seconds": watch_seconds(log.read_text(errors="replace")[log_start:]),
            "peak_rss_mb": rss / MB, **idle_use, "change_p50": stats.median(changes), "change_max": max(changes)}


def watch_seconds(log_text: str) -> float | None:
    """How long the daemon took to watch the tree, from its own log line (None if it has none)."""
    match = _WATCHING.search(log_text)
    return float(match.group(1)) if match else None


def change_latencies(bench: Bench, tool: str) -> list:
    """Seconds for a small file written deep in the tree to appear on the slave, a few times.

    New names for each tool: a name an earlier tool's run left on the slave would be there at once.
    """
    leaves = sorted(bench.m("scale").glob("g*/d*"))
    step = max(1, len(leaves) // CHANGES)
    out = []
    for i, leaf in enumerate(leaves[::step][:CHANGES]):
        rel = leaf.relative_to(bench.m()) / f"change-{re.sub(r'[^a-z0-9]+', '-', tool).strip('-')}-{i}"
        (bench.m() / rel).write_bytes(b"changed\n")
        written = time.monotonic()
        wait_until((bench.s() / rel).exists, CHANGE_TIMEOUT, f"{rel} on the slave", interval=CHANGE_POLL)
        out.append(time.monotonic() - written)
    return out


def lsyncd_run(bench: Bench, idle: float, delay: int) -> dict:
    tool = Lsyncd(bench.lab, delay)
    began = time.monotonic()
    tool.launch()
    try:
        wait_until(tool.ready, START_TIMEOUT, f"{tool.name}: startup sync")
        ready = time.monotonic() - began
        time.sleep(SETTLE)   # as for fmirror
        idle_use = measure.idle_use(bench.lab, tool.pid, idle)
        changes = change_latencies(bench, tool.name) if delay == 0 else []
        rss = measure.peak_rss(tool.pid)
    finally:
        tool.stop()
    return {"tool": tool.name, "ready_seconds": ready, "peak_rss_mb": rss / MB, **idle_use,
            "change_p50": stats.median(changes) if changes else None, "change_max": max(changes, default=None)}


def pair_run(bench: Bench, idle: float) -> dict:
    """Idle CPU of lsyncd at delay 0 with keepalived beside it: mirroring and failover, as fmirror does both."""
    tool = Lsyncd(bench.lab, 0)
    tool.launch()
    try:
        wait_until(tool.ready, START_TIMEOUT, f"{tool.name}: startup sync")
        watchers = keepalived.start(bench.lab, ADVERT_INT)
        try:
            time.sleep(KEEPALIVED_SETTLE)   # a fixed pause: keepalived elects its master meanwhile
            idle_use = measure.idle_use(bench.lab, tool.pid, idle)
        finally:
            keepalived.stop(watchers)
    finally:
        tool.stop()
    return {"tool": PAIR, **idle_use}


def section(result: dict) -> list:
    lines = [f"{result['files']:,} files in {result['dirs']:,} directories, identical on both hosts "
             f"(written in {result['prepare_seconds']:.0f} s). Start → ready: fmirror until its first "
             f"full sync is done and nothing is unsent; lsyncd (at its default delay, and at delay 0) "
             f"until its startup rsync finished; "
             f"`rsync -an --delete` over the same ssh is the reference. Idle CPU over "
             f"{result['idle_seconds']:g} s, in percent of one core: everything each host ran, in a cgroup "
             "of the host's own (daemons, ssh, sshd and their children, exited or not), master + slave. "
             "fmirror also watches the master for failover, so the last row idles lsyncd at delay 0 beside "
             "keepalived, the pair it replaces. Wake-ups: the tool's daemon on the master, its threads' "
             "voluntary context switches. One change: a new file deep in the tree, until it is on the slave "
             f"(median and max of {CHANGES}; lsyncd at its default delay waits {LSYNCD_DEFAULT_DELAY} s for "
             "it by design, so only its delay 0 is timed).", ""]
    ref = rows_of(result, tool=result["reference"])[0]
    rows = []
    for r in result["rows"]:
        detail = ""
        if r.get("full_sync_seconds") is not None:
            detail = (f" (watching {num(r['watch_seconds'], unit='s')}, "
                      f"full sync {num(r['full_sync_seconds'], unit='s')})")
        change = (f"{num(r['change_p50'], unit='s')} / {num(r['change_max'], unit='s')}"
                  if r.get("change_p50") is not None else "-")
        rows.append([r["tool"], num(r.get("ready_seconds"), unit="s") + detail,
                     times(stats.ratio(r.get("ready_seconds"), ref["ready_seconds"])),
                     num(r.get("peak_rss_mb"), unit="MB"), idle_cell(r), num(r.get("idle_wakes")), change])
    return lines + table(["tool", "start → ready", "ratio", "peak RSS", "idle CPU (master + slave)",
                          "wake-ups a minute", "one change"], rows)


def idle_cell(row: dict) -> str:
    if row.get("idle_cpu") is None:
        return "-"
    return (f"{num(row['idle_cpu'], unit='%')} ({num(row['idle_cpu_master'], unit='%')} + "
            f"{num(row['idle_cpu_slave'], unit='%')})")


def targets(result: dict) -> list:
    ours = rows_of(result, tool="fmirror")
    ref = rows_of(result, tool=result["reference"])
    ours = ours[0] if ours else {}
    value = stats.ratio(ours.get("ready_seconds"), ref[0]["ready_seconds"] if ref else None)
    rss = ours.get("peak_rss_mb")
    idle = ours.get("idle_cpu")
    return ([Target(NAME, "READY vs rsync -an", "≤ 1.30×", times(value), None if value is None else value <= 1.3),
             Target(NAME, "peak RSS", "≤ 300 MB", num(rss, unit="MB"), None if rss is None else rss <= 300),
             Target(NAME, "idle CPU, both hosts", "≤ 1 %", num(idle, unit="%"),
                    None if idle is None else idle <= 1.0)]
            + ahead_of_lsyncd(NAME, result, "ready_seconds", "start → ready", "s")
            + ahead_of_lsyncd(NAME, result, "peak_rss_mb", "peak RSS", "MB")
            + ahead_of_lsyncd(NAME, result, "idle_cpu", "idle CPU, both hosts", "%")
            + ahead_of_lsyncd(NAME, result, "change_p50", "one change (median)", "s"))
