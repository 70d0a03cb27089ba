"""Rename: a directory holding 1 GiB, in sync on both hosts, is renamed on the master.

Bytes are read two ways, each the same meter for every tool: all the master
sent on its link (tx_bytes of its eth0), and what it sent to the slave's sshd
(an nftables counter), which leaves out fmirror's failover watch: the
slave's pings and state queries, answered by the master in every window,
with or without a rename. lsyncd watches nothing. For fmirror, the bytes its
rsync runs reported (`bytes_sent` in `fmirror status --json`) are shown
beside them. One-shot
rsync has no notion of a rename: it sends the directory again.
"""

import os
import time

from fmirror.lab.wait import wait_until

from bench import converge, measure, stats, workload
from bench.markdown import num, table, times
from bench.scenarios import Bench, Target, ahead_of_lsyncd, attempt, medians, rows_of, turns
from bench.tools import MASTER, SLAVE, Fmirror, Rsync, live_tool_names, live_tools
from bench.workload import Burst

NAME = "rename"
MiB = 1 << 20
TREE = Burst(0, 256, 4 * MiB)            # 1 GiB
QUICK_TREE = Burst(0, 50, 1 * MiB)       # 50 MiB
OLD, NEW = "rename/big", "rename/renamed"
START_TIMEOUT = 300
ARRIVAL_TIMEOUT = 600
SETTLE = 2.0        # after convergence, traffic a tool still sends for the rename is counted too
# Each tool this many times, in turns, and the median counts: a single run of fmirror took
# 0.91 s in one full bench run where three by hand right after took 0.011-0.012 s.
ROUNDS, QUICK_ROUNDS = 3, 1


def tool_names(quick: bool) -> list:
    """The rows this scenario's table has, by tool."""
    return [Rsync.name] + live_tool_names(quick)


def run(bench: Bench) -> dict:
    tree = QUICK_TREE if bench.quick else TREE
    tools = {tool.name: tool for tool in [Rsync(bench.lab)] + live_tools(bench.lab, bench.quick)}
    trials = [attempt(lambda: one_run(bench, tools[name], tree), name)
              for name in turns(list(tools), QUICK_ROUNDS if bench.quick else ROUNDS)]
    return {"reference": Rsync.name, "case": tree.label, "trials": trials,
            "rows": medians(trials, ("seconds", "wire_bytes", "ssh_bytes", "rsync_reported_bytes"))}


def one_run(bench: Bench, tool, tree: Burst) -> dict:
    workload.fresh(bench.lab)
    manifest = workload.write_burst(bench.m(), tree, under=OLD)
    if tool.live:
        tool.start(START_TIMEOUT)
    else:
        tool.sync()
    try:
        wait_until(bench.s(OLD).is_dir, START_TIMEOUT, "the tree on the slave")
        fmirror_before = tool.bytes_sent() if isinstance(tool, Fmirror) else None
        tx_before = measure.tx_bytes(bench.lab, MASTER)
        measure.meter_ssh(bench.lab, MASTER, SLAVE)
        began = time.monotonic()
        os.rename(bench.m(OLD), bench.m(NEW))
        if not tool.live:
            tool.sync()
        expected = {rel.replace(OLD, NEW, 1): size for rel, size in manifest.items()}
        arrived = converge.wait_arrived(bench.s(), expected, ARRIVAL_TIMEOUT, gone=[OLD])
        time.sleep(SETTLE)   # a fixed window for trailing traffic, nothing to poll for
        sent = measure.tx_bytes(bench.lab, MASTER) - tx_before
        to_sshd = measure.ssh_bytes(bench.lab, MASTER)
        fmirror_sent = tool.bytes_sent() - fmirror_before if fmirror_before is not None else None
    finally:
        if tool.live:
            tool.stop()
    return {"tool": tool.name, "seconds": arrived - began, "wire_bytes": sent, "ssh_bytes": to_sshd,
            "rsync_reported_bytes": fmirror_sent, "differs": converge.verify(bench.m(), bench.s())}


def section(result: dict) -> list:
    lines = [f"A directory of {result['case']}, in sync, is renamed on the master. Time: rename → "
             f"the slave holds the new name and not the old one. Bytes, during that time plus {SETTLE:g} s: "
             f"all the master's link sent (Ethernet frames), and what it sent to the slave's sshd (IP "
             f"packets). The second leaves out what fmirror's master sends with or without a rename: "
             f"its answers to the slave's failover watch (an echo reply of 50 B every 0.5 s, a state "
             f"answer of ~400 B every 5 s), which lsyncd does not have. The tools run in turns; "
             f"the medians count, every run's time in the last column. Ratio: to "
             f"{result['reference']} (lower is better).", ""]
    ref = rows_of(result, tool=result["reference"])
    ref = ref[0] if ref else {}
    rows = [[r["tool"], num(r.get("seconds"), unit="s"), num(r.get("wire_bytes")),
             num(r.get("ssh_bytes")), num(r.get("rsync_reported_bytes")),
             times(stats.ratio(r.get("seconds"), ref.get("seconds"))),
             times(stats.ratio(r.get("ssh_bytes"), ref.get("ssh_bytes"))),
             ", ".join(num(v) for v in r.get("each", [])) or "-"] for r in result["rows"]]
    return lines + table(["tool", "time", "bytes on the wire", "bytes to the slave's sshd",
                          "bytes rsync reported", "time ratio", "bytes ratio (sshd)", "runs (s)"], rows)


def targets(result: dict) -> list:
    ours = rows_of(result, tool="fmirror")
    seconds = ours[0].get("seconds") if ours else None
    sent = ours[0].get("wire_bytes") if ours else None
    return ([Target(NAME, "time to converge", "≤ 1 s", num(seconds, unit="s"),
                    None if seconds is None else seconds <= 1.0),
             Target(NAME, "bytes on the wire", "< 1 MB", num(sent, unit="B"),
                    None if sent is None else sent < 10**6)]
            + ahead_of_lsyncd(NAME, result, "seconds", "time", "s")
            + ahead_of_lsyncd(NAME, result, "ssh_bytes", "bytes to the slave's sshd", "B"))
