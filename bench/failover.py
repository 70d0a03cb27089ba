"""`python -m bench.failover [--quick] [--out docs/benchmarks-failover.md] [--keep DIR] [--render-only]`

The failover benchmark: fmirror beside keepalived on the same lab hosts.
Client-visible failover time (a client polls the floating IP every 50 ms;
the master's link goes down; last answer from the master to first answer
from the slave), trials on a fresh lab each, interleaved so that the
machine's noise falls on every setup alike; then false failovers under
random packet loss between the hosts, both tools at once on labs of their
own. Writes a Markdown section, the raw numbers as JSON beside it, and a
timeline plot when matplotlib is installed. Needs root, like the lab.
--quick: 2 trials and 20 s of loss, so the harness itself stays tested
(tests/integration/test_bench_failover_guard.py); its numbers mean little.
"""

import argparse
import concurrent.futures
import contextlib
import json
import logging
import os
import platform
import random
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from fmirror import process
from fmirror.errors import Error, Failed
from fmirror.lab import Lab, client, unavailable_reason
from fmirror.lab.cluster import FLOATING, Cluster, config
from fmirror.lab.wait import wait_until

from bench import interrupt, keepalived, report, stats
from bench.markdown import num, table

TRIALS, QUICK_TRIALS = 10, 2
LOSS_SECONDS, QUICK_LOSS_SECONDS = 600, 20
LOSS_PERCENT = 5
POLL = 0.05                 # the client's polling interval, s
CLIENT_RESOLUTION = 0.001   # s: the client logs when each request began to the millisecond
# The cut waits a random part of this after the client's first answer: both tools work on a
# grid (fmirror's rounds, keepalived's adverts; the longest period is keepalived's advert_int
# 1 s) that starts with the lab, and a cut at a fixed delay from that start would fall at
# nearly the same point of every tool's grid in every trial: a draw of luck, not a measure.
CUT_PHASE = 1.0
TAKEOVER_TIMEOUT = 30       # s after the cut: a tool slower than this failed the trial
ELECTION_TIMEOUT = 30       # s for keepalived's first election (3 adverts + skew at advert_int 1)
FIRST_ANSWER_TIMEOUT = 10
HOLDER_SAMPLE = 0.2         # s between looks at who holds the floating IP during the loss run
LOG_TAIL_LINES = 20
START_ATTEMPTS = 3      # fresh labs per trial when the pair fails over before the cut
DEFAULT_OUT = Path("docs/benchmarks-failover.md")
RESULTS = "bench-failover.json"   # beside the report
PLOT = "bench-failover.png"
FMIRROR_HOSTS = ("master", "slave", "witness", "client")
KEEPALIVED_HOSTS = ("master", "slave", "client")
FAST_FALL = 3
# keepalived's backup declares the master down 3 × advert_int + skew after its last advert,
# skew = (256 − priority)/256 × advert_int: with the bench's backup priority 100 at 0.1 s,
KEEPALIVED_SKEW = (256 - keepalived.PRIORITY["slave"]) / 256 * 0.1
# so fmirror's fast setting waits as long for the last missing answer: a 0.06 s probe timeout.
FAST_TIMEOUT = 0.06
# A line of `ip -ts -o monitor address`: "[2026-11-22T00:29:12.656029] 3: eth0    inet 198.51.100.100/24 ...";
# a removal starts with "Deleted" instead of the interface index.
VIP_ADDED = re.compile(rf"^\[(?P<at>[^\]]+)\] \d+: eth0\s+inet {re.escape(FLOATING)}/")

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Setup:
    setting: str        # "defaults" or "fast"
    tool: str           # "fmirror" or "keepalived"
    params: dict        # fmirror: its monitor section; keepalived: {"advert_int": s}

    @property
    def label(self) -> str:
        return f"{self.setting} {self.tool}"

    def describe(self) -> str:
        if self.tool == "keepalived":
            return f"advert_int {self.params['advert_int']:g}, unicast VRRPv3, priorities 150/100"
        p = self.params
        return (f"interval {p['interval']:g} s, timeout {p['timeout']:g} s, fall {p['fall']}, "
                f"rise {p['rise']}, checks icmp + http, witness")


SETUPS = (
    Setup("defaults", "fmirror", {"interval": 0.5, "timeout": 0.5, "fall": 3, "rise": 2}),
    Setup("defaults", "keepalived", {"advert_int": 1}),
    # fall 3 = keepalived's rule: its backup takes over after 3 missed adverts (plus a skew).
    Setup("fast", "fmirror", {"interval": 0.1, "timeout": FAST_TIMEOUT, "fall": FAST_FALL, "rise": 2}),
    Setup("fast", "keepalived", {"advert_int": 0.1}),
)
LOSS_SETUPS = (SETUPS[0], SETUPS[1])   # the defaults: what runs at 3 a.m.


def plan() -> dict:
    """What a run reports: {"failover": [(setting, tool)], "loss": [(setting, tool)]}."""
    return {"failover": [(s.setting, s.tool) for s in SETUPS],
            "loss": [(s.setting, s.tool) for s in LOSS_SETUPS]}


# --- one failover trial


class Teardowns:
    """Closes finished labs in the background while the next trial builds its own, never while it measures.

    After the cut, fmirror's new master takes up to 5 s to exit on SIGTERM (its last ssh to the
    unreachable old master) and the lab waits for it: one after the other, those waits would be a
    third of every fmirror trial, and would push the quick run well past its budget.
    """

    def __init__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-close")
        self._pending = []

    def __enter__(self) -> "Teardowns":
        return self

    def __exit__(self, *exc):
        self.wait()
        self._pool.shutdown()

    def close(self, lab: Lab):
        self._pending.append(self._pool.submit(lab.close))

    def wait(self):
        """Until every lab handed over is down: before a cut, so a measurement runs alone."""
        for future in self._pending:
            try:
                future.result()
            except Error as error:   # a teardown that went wrong spoils no measurement: say it, go on
                log.error("bench: closing a lab: %s", error)
        self._pending.clear()


def watch_addresses(lab: Lab, host: str) -> Path:
    """`ip monitor` in host, with timestamps: when the floating IP lands there, to the microsecond.

    Started with the lab, seconds before the cut, so it surely listens by then.
    """
    path = lab.log_path(host, "addresses")
    lab[host].spawn(["ip", "-ts", "-o", "monitor", "address", "dev", "eth0"], path)
    return path


def vip_added_after(path: Path, since: float) -> float | None:
    """Seconds from `since` until the floating IP was added (as `ip monitor` saw it), or None."""
    for line in path.read_text(errors="replace").splitlines():
        match = VIP_ADDED.match(line)
        if match:
            # ip prints local wall-clock time, as time.time() reads it.
            at = datetime.fromisoformat(match["at"]).timestamp()
            if at >= since:
                return at - since
    return None


def cut_master_link(cluster: Cluster, settle) -> tuple[float, dict]:
    """Cut the master's link under a polling client; (cut time, client-visible timing from the cut)."""
    cluster.start_client(POLL)
    wait_until(lambda: any(who == "master" for _, who in cluster.answers()), FIRST_ANSWER_TIMEOUT,
               "the client served by the master")
    settle()
    time.sleep(random.uniform(0, CUT_PHASE))   # a random moment, as a failure picks its own
    cut = time.time()
    cluster.lab.link_down("master")
    last, first = wait_until(lambda: client.gap(cluster.answers(), "master", "slave"), TAKEOVER_TIMEOUT,
                             "the client served by the slave")
    vip = vip_added_after(cluster.lab.log_path("slave", "addresses"), cut)
    return cut, {"gap": first - last, "last_master": last - cut, "first_slave": first - cut, "vip_on_slave": vip}


class FalseStart(Failed):
    """The pair failed over on its own before the cut: the trial measured nothing, and is run again."""


def fmirror_trial(lab: Lab, setup: Setup, settle) -> dict:
    watch_addresses(lab, "slave")
    # At the fast setting a loaded machine can keep the master's web server past the 0.06 s
    # timeout while the master starts and makes its first sync, and the slave takes over: so
    # the last lab's teardown ends first, and the master starts and syncs before the slave.
    settle()
    try:
        cluster = Cluster(lab, config(lab, log_level="info", monitor=setup.params)).start(master_first=True)
        wait_until(lambda: watching(cluster), FIRST_ANSWER_TIMEOUT, "the slave's watch of the master")
    except Failed as e:
        raise FalseStart(str(e)) from None
    before = cluster.status("slave")["epoch"]
    if before != 1:
        raise FalseStart(f"the slave was at epoch {before} before the cut")
    cut, timing = cut_master_link(cluster, settle)
    # The promoted event comes after the promote hook, which may still run when the client got its answer.
    status = wait_until(lambda: promoted_status(cluster), TAKEOVER_TIMEOUT, "the promoted event on the slave")
    last_event = {e["event"]: e["at"] - cut for e in status["events"]}
    return {**timing, "master_down": last_event.get("master-down"), "promoted": last_event.get("promoted"),
            "epoch": status["epoch"]}


def watching(cluster: Cluster) -> bool:
    """Whether the slave's last round found the master up; Failed once it is a slave no longer.

    The verdict alone reads "up" from the start, also while rounds fail: a
    cut then would meet a monitor already counting down, and measure less.
    """
    status = cluster.status("slave")
    if status["role"] != "slave":
        raise Failed(f"the slave was {status['role']} before the cut")
    monitor = status.get("monitor", {})
    return monitor.get("master") == "up" and monitor.get("failures") == 0 and bool(monitor.get("checks"))


def promoted_status(cluster: Cluster) -> dict | None:
    status = cluster.status("slave")
    return status if any(e["event"] == "promoted" for e in status["events"]) else None


def keepalived_trial(lab: Lab, setup: Setup, settle) -> dict:
    watch_addresses(lab, "slave")
    procs = keepalived.start(lab, setup.params["advert_int"])
    try:
        cluster = web_only_cluster(lab)   # while keepalived holds its first election
        cluster.wait_holder("master", ELECTION_TIMEOUT)
        _, timing = cut_master_link(cluster, settle)
    finally:
        keepalived.stop(procs)
    return timing


def web_only_cluster(lab: Lab) -> Cluster:
    """The lab's web page on master and slave and its client, with no fmirror: keepalived moves the IP."""
    cluster = Cluster(lab, {"nodes": {"master": {}, "slave": {}}})   # start_web and holders need only nodes
    for host in ("master", "slave"):
        cluster.start_web(host)
    return cluster


def new_lab(workdir: Path, name: str, setup: Setup) -> Lab:
    return Lab(workdir / name, FMIRROR_HOSTS if setup.tool == "fmirror" else KEEPALIVED_HOSTS)


def trial(workdir: Path, setup: Setup, index: int, teardowns: Teardowns) -> dict:
    """One trial on a fresh lab; a trial that failed is a result that says why.

    A false start (FalseStart) is tried again on a fresh lab, up to START_ATTEMPTS
    times in all; each one is counted in the result and named in the report.
    """
    began, false_starts = time.monotonic(), []
    run_one = fmirror_trial if setup.tool == "fmirror" else keepalived_trial
    for attempt in range(START_ATTEMPTS):
        lab = new_lab(workdir, f"trial-{index:02d}-{setup.setting}-{setup.tool}-{attempt}", setup)
        try:
            result = run_one(lab.start(), setup, teardowns.wait)
            break
        except FalseStart as error:
            log.warning("bench: %s trial %d: false start %d: %s", setup.label, index, attempt + 1, error)
            log_tails(lab)
            false_starts.append(str(error))
        except Error as error:
            log.warning("bench: %s trial %d failed: %s", setup.label, index, error)
            log_tails(lab)
            return {"failed": str(error), "false_starts": false_starts}
        finally:
            teardowns.close(lab)
    else:
        return {"failed": f"{START_ATTEMPTS} false starts, the last: {false_starts[-1]}", "false_starts": false_starts}
    log.info("bench: %s trial %d: %.3f s without an answer (trial took %.0f s)",
             setup.label, index, result["gap"], time.monotonic() - began)
    return {**result, "false_starts": false_starts}


def log_tails(lab: Lab):
    for path in lab.log_files():
        tail = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        if tail:
            log.warning("--- %s\n%s", path.name, "\n".join(tail))


def failover_runs(workdir: Path, trials: int) -> list:
    """[{"setting", "tool", "configuration", "trials": [...]}]: the setups taking turns, trial after trial."""
    rows = [{"setting": s.setting, "tool": s.tool, "configuration": s.describe(), "params": s.params,
             "trials": []} for s in SETUPS]
    with Teardowns() as teardowns:
        for index in range(trials):
            for setup, row in zip(SETUPS, rows):
                row["trials"].append(trial(workdir, setup, index, teardowns))
    for row in rows:
        gaps = [t["gap"] for t in row["trials"] if "gap" in t]
        vips = [t["vip_on_slave"] for t in row["trials"] if t.get("vip_on_slave") is not None]
        row.update(n=len(gaps), median=stats.median(gaps), worst=max(gaps, default=None),
                   vip_median=stats.median(vips))
    return rows


# --- false failovers under loss


def sample_holders(cluster: Cluster, seconds: float) -> list:
    """[(seconds from the start, holders)] at every change of who holds the floating IP, first sample included."""
    began = time.monotonic()
    changes, last = [], None
    while (elapsed := time.monotonic() - began) < seconds:
        holders = cluster.holders()
        if holders != last:
            changes.append((round(elapsed, 2), holders))
            last = holders
        time.sleep(HOLDER_SAMPLE)
    return changes


def under_loss(cluster: Cluster, seconds: float) -> list:
    cluster.lab.loss(LOSS_PERCENT)
    try:
        return sample_holders(cluster, seconds)
    finally:
        cluster.lab.clear_loss()


def fmirror_loss(lab: Lab, seconds: float) -> dict:
    cluster = Cluster(lab, config(lab, log_level="info", monitor=LOSS_SETUPS[0].params)).start()
    changes = under_loss(cluster, seconds)
    notified = [h["FMIRROR_EVENT"] for h in cluster.hooks("slave") if h["hook"] == "notify"]
    epoch = cluster.status("slave")["epoch"]
    return {"promotions": epoch - 1, "slave_epoch": epoch, "master_down_events": notified.count("master-down"),
            "holder_changes": changes, "vip_moves": len(changes) - 1}


def keepalived_loss(lab: Lab, seconds: float) -> dict:
    procs = keepalived.start(lab, LOSS_SETUPS[1].params["advert_int"])
    try:
        cluster = web_only_cluster(lab)
        cluster.wait_holder("master", ELECTION_TIMEOUT)
        changes = under_loss(cluster, seconds)
        # Counted before stopping: the master's keepalived hands over to the slave as it stops.
        # The slave never was master before the loss (lower priority): each entry is a takeover.
        promotions = keepalived.times_became_master(lab, "slave")
    finally:
        keepalived.stop(procs)
    return {"promotions": promotions, "holder_changes": changes, "vip_moves": len(changes) - 1}


def loss_run(workdir: Path, setup: Setup, seconds: float) -> dict:
    row = {"setting": setup.setting, "tool": setup.tool, "configuration": setup.describe(),
           "seconds": seconds, "loss_percent": LOSS_PERCENT}
    measure = fmirror_loss if setup.tool == "fmirror" else keepalived_loss
    try:
        with new_lab(workdir, f"loss-{setup.tool}", setup) as lab:
            try:
                row.update(measure(lab, seconds))
            except Error:
                log_tails(lab)
                raise
    except Error as error:
        log.warning("bench: %s under loss failed: %s", setup.label, error)
        row["failed"] = str(error)
    log.info("bench: %s under %d %% loss for %.0f s: %s promotions, %s VIP moves", setup.label,
             LOSS_PERCENT, seconds, row.get("promotions", "?"), row.get("vip_moves", "?"))
    return row


def loss_runs(workdir: Path, seconds: float) -> list:
    """Both tools at once, each on a lab of its own: the same stretch of machine noise for both."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(LOSS_SETUPS)) as pool:
        return list(pool.map(lambda s: loss_run(workdir, s, seconds), LOSS_SETUPS))


# --- the report


def targets(failover: list, loss: list) -> list:
    """[(target, goal, measured, met)]: the failover issue's goals, judged on the client-visible medians."""
    by = {(r["setting"], r["tool"]): r for r in failover}
    fm, fast, fast_ka = by.get(("defaults", "fmirror")), by.get(("fast", "fmirror")), by.get(("fast", "keepalived"))
    lossy = [r for r in loss if r["tool"] == "fmirror"]

    def seconds(row):
        if not row:
            return "-"
        return f"{num(row['median'], unit='s')} (IP on the slave {num(row['vip_median'], unit='s')})"
    out = [("client-visible failover, defaults", "median ≤ 2 s", seconds(fm),
            None if not fm or fm["median"] is None else fm["median"] <= 2.0),
           ("client-visible failover, fast setting", "no slower than keepalived at advert_int 0.1",
            f"{seconds(fast)} vs {seconds(fast_ka)}",
            None if not fast or not fast_ka or None in (fast["median"], fast_ka["median"])
            # Within what the client's log can tell apart: two medians of the same 50 ms step
            # differ in their float noise (0.35000014 against 0.35000002 s in one run).
            else fast["median"] <= fast_ka["median"] + CLIENT_RESOLUTION)]
    for row in lossy:
        measured = row.get("promotions") is not None
        out.append((f"false failovers, {row['loss_percent']} % loss", "zero",
                    f"{row.get('promotions', '-')} promotions, {row.get('vip_moves', '-')} VIP moves",
                    (row["promotions"] == 0 and row["vip_moves"] == 0) if measured else None))
    return out


MET = {True: "met", False: "**missed**", None: "not measured"}


def markdown(meta: dict, failover: list, loss: list, plot: str | None) -> list:
    lines = ["## Failover", "",
             "fmirror beside keepalived (Debian's, VRRP) on the same lab hosts: network + mount "
             "namespaces on one machine, a veth bridge between them. Generated by `bench/failover.py`: "
             "do not edit by hand.", ""]
    lines += meta_lines(meta) + [""]
    lines += failover_section(failover, plot) + [""] + loss_section(loss) + [""]
    lines += ["### Targets", ""]
    lines += table(["target", "goal", "measured", "verdict"],
                   [[t, goal, measured, MET[met]] for t, goal, measured, met in targets(failover, loss)])
    return lines


def meta_lines(meta: dict) -> list:
    m = meta["machine"]
    load = " / ".join(" ".join(f"{x:.2f}" for x in meta[k]) for k in ("load_before", "load_after"))
    return [f"- command: `{meta['command']}`" + (" (quick: 2 trials, 20 s of loss, not for comparison)"
                                                   if meta["quick"] else ""),
            f"- date: {meta['date']} UTC; the run took {meta['seconds']:.0f} s; fmirror at {meta['code']}",
            f"- machine: {m['nproc']} cores, Linux {m['kernel']}, Python {m['python']}, {m['keepalived']}",
            f"- load average before / after: {load}",
            "",
            "**Caveat:** the machine is shared with other engineers running test suites at the same time, "
            "so every number carries their noise (the load averages above hint at how much). The trials of "
            "the four setups take turns, so that noise falls on every setup alike: compare within one run."]


def failover_section(rows: list, plot: str | None) -> list:
    lines = ["### Client-visible failover time", "",
             f"A client polls `http://{FLOATING}/` every {POLL * 1000:.0f} ms; each host serves its own "
             "name. The master's link to the bridge goes down (`ip link set down`, as a pulled cable). "
             f"The cut comes at a random moment (up to {CUT_PHASE:g} s after the client's first answer), "
             "so that it falls anywhere in either tool's rounds or adverts. "
             "Measured: last answer from the master to first answer from the slave, each by the time "
             f"its request began. A request begins every {POLL * 1000:.0f} ms whether or not earlier ones "
             f"have ended (each may wait up to {client.TIMEOUT:g} s), so a connection stuck on the dead "
             f"master never hides a working slave: the times are exact to {POLL * 1000:.0f} ms. The last "
             "column: when the floating IP landed on the slave (`ip -ts monitor address` there), from "
             "the cut; the client sees it once the gratuitous ARP reached it. Every trial on a fresh lab. "
             f"Equal detection settings: fmirror's fast setting uses fall {FAST_FALL}, the three missed "
             "adverts after which keepalived's backup takes over; keepalived then waits a skew of "
             f"(256 − priority)/256 × advert_int more (priority {keepalived.PRIORITY['slave']}: {KEEPALIVED_SKEW:.3f} s), which is "
             f"what fmirror's probe timeout is in that setting ({FAST_TIMEOUT:g} s): how long the last "
             "missing answer is waited for.", ""]
    lines += table(["setting", "tool", "configuration", "median", "worst", "n", "IP on the slave (median)"],
                   [[r["setting"], r["tool"], r["configuration"], num(r["median"], unit="s"),
                     num(r["worst"], unit="s"), r["n"], num(r["vip_median"], unit="s")] for r in rows])
    lines += [""] + fmirror_timeline(rows) + failed_lines(rows)
    if plot:
        lines += ["", f"![failover timeline]({plot})"]
    return lines


def fmirror_timeline(rows: list) -> list:
    """fmirror's own steps, medians from the cut: where the time goes."""
    lines = []
    for r in (r for r in rows if r["tool"] == "fmirror"):
        ok = [t for t in r["trials"] if "gap" in t]

        def med(key):
            return num(stats.median([t[key] for t in ok if t.get(key) is not None]), unit="s")
        lines.append(f"- fmirror {r['setting']}, medians from the cut: last answer from the master "
                     f"{med('last_master')}, master declared down {med('master_down')}, floating IP on the slave "
                     f"{med('vip_on_slave')}, first answer from the slave "
                     f"{med('first_slave')}, `promoted` event {med('promoted')} (it comes after the promote "
                     "hook, which runs once the IP is in place).")
    return lines


def failed_lines(rows: list) -> list:
    failed = [f"- **{r['setting']} {r['tool']}**: trial {i} failed: {t['failed']}"
              for r in rows for i, t in enumerate(r["trials"]) if "failed" in t]
    false_starts = [f"- **{r['setting']} {r['tool']}**: trial {i} was started {len(t['false_starts']) + 1} times: "
                    f"the pair failed over on its own before the cut ({t['false_starts'][0]})"
                    for r in rows for i, t in enumerate(r["trials"]) if t.get("false_starts") and "failed" not in t]
    return failed + false_starts


def loss_section(rows: list) -> list:
    seconds = max((r["seconds"] for r in rows), default=0)
    lines = [f"### False failovers under {LOSS_PERCENT} % loss", "",
             f"{num(seconds / 60)} min of {LOSS_PERCENT} % random loss of every frame crossing the bridge "
             "(nftables `numgen random`), both tools at their defaults, at the same time on labs of their "
             "own; nothing else goes wrong. Promotions: fmirror's slave epoch above 1, keepalived's slave "
             f"entering MASTER state (its log). VIP moves: changes of who holds {FLOATING}, sampled every "
             f"{HOLDER_SAMPLE:g} s.", ""]
    lines += table(["setting", "tool", "configuration", "minutes", "promotions", "VIP moves"],
                   [[r["setting"], r["tool"], r["configuration"], num(r["seconds"] / 60),
                     num(r.get("promotions")), num(r.get("vip_moves"))] for r in rows])
    lines += [f"- **{r['setting']} {r['tool']}**: failed: {r['failed']}" for r in rows if "failed" in r]
    near = [r for r in rows if r.get("master_down_events")]
    lines += [f"- fmirror's slave declared the master down {r['master_down_events']} times." for r in near]
    return lines


def plot_timeline(rows: list, path: Path) -> bool:
    """A bar per trial from the master's last answer to the slave's first; False without matplotlib.

    matplotlib is a bench-only dependency (bench/requirements.txt): without it the report has no plot.
    """
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")   # no display in a lab run
    from matplotlib import pyplot
    trials = [(f"{r['setting']} {r['tool']}", t) for r in rows for t in r["trials"] if "gap" in t]
    fig, ax = pyplot.subplots(figsize=(8, 0.25 * len(trials) + 1.5))
    for y, (label, t) in enumerate(trials):
        color = "tab:blue" if "fmirror" in label else "tab:orange"
        ax.barh(y, t["gap"], left=t["last_master"], color=color, height=0.6)
        if t.get("master_down") is not None:
            ax.plot(t["master_down"], y, "|", color="black", markersize=12)
        if t.get("vip_on_slave") is not None:
            ax.plot(t["vip_on_slave"], y, "D", color="black", markersize=4)
    ax.set_yticks(range(len(trials)), [label for label, _ in trials], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="red", linewidth=1)
    ax.set_xlabel("seconds from the cut of the master's link (red line)")
    ax.set_title("bar: the client gets no answer; ◆ floating IP on the slave; | fmirror's slave declares "
                 "the master down", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
    return True


def write(out: Path, meta: dict, failover: list, loss: list):
    """out (Markdown), RESULTS and PLOT beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = PLOT if failover and plot_timeline(failover, out.with_name(PLOT)) else None
    raw = {"meta": meta, "failover": failover, "loss": loss,
           "targets": [dict(zip(("target", "goal", "measured", "met"), t)) for t in targets(failover, loss)]}
    out.with_name(RESULTS).write_text(json.dumps(raw, indent=1) + "\n")
    out.write_text("\n".join(markdown(meta, failover, loss, plot)) + "\n")


# --- the command


def machine() -> dict:
    version = process.run(["keepalived", "--version"], check=False)
    lines = (version.stdout + version.stderr).decode(errors="replace").splitlines()
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "keepalived": lines[0] if lines else "keepalived ?"}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.splitlines()[2])
    parser.add_argument("--quick", action="store_true", help="2 trials and 20 s of loss (CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report path (default {DEFAULT_OUT})")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the labs under DIR and keep their logs (default: a temporary folder)")
    parser.add_argument("--render-only", action="store_true",
                        help=f"rewrite the report from the {RESULTS} beside --out, running nothing")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.render_only:
        raw = json.loads(args.out.with_name(RESULTS).read_text())
        write(args.out, raw["meta"], raw["failover"], raw["loss"])
        return 0
    reason = unavailable_reason() or (None if shutil.which("keepalived") else "keepalived is not installed")
    if reason:
        print(f"bench: cannot run: {reason}", file=sys.stderr)
        return 2
    meta = {"command": shlex.join(["python", "-m", "bench.failover", *argv]), "quick": args.quick,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "code": report.fmirror_version(),
            "load_before": os.getloadavg()}
    began = time.monotonic()
    with workdir(args.keep) as work:
        failover = failover_runs(work, QUICK_TRIALS if args.quick else TRIALS)
        loss = loss_runs(work, QUICK_LOSS_SECONDS if args.quick else LOSS_SECONDS)
    meta.update(seconds=time.monotonic() - began, load_after=os.getloadavg())
    write(args.out, meta, failover, loss)
    log.info("bench: failover report in %s (%.0f s)", args.out, meta["seconds"])
    return 0


@contextlib.contextmanager
def workdir(keep: Path | None):
    """Where the labs live: DIR, kept, with --keep; else a temporary folder."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="fmirror-bench-failover-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    sys.exit(interrupt.run(main))
