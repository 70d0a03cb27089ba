"""What each role does every monitor round: master, slave, suspended.

A runner has start(), stop(), tick() (seconds until it wants the next
cycle), cycle() (returns a sentence when it decided something) and status().
"""

import json
import logging
import threading
import time

from fmirror import failover, hooks, probes, protocol, ssh, vip
from fmirror.errors import Error, Refused
from fmirror.hooks import Event
from fmirror.master import Replicator
from fmirror.upkeep import Upkeep
from fmirror.monitor import (Action, Hysteresis, Verdict, View, master_reach, newer_master, next_round,
                             slave_decision)

log = logging.getLogger(__name__)

# How often the peers' own fmirror is asked for its state (over the link, a
# line each way to the peer's daemon: cheap, but no need for every round).
PEER_CHECK_INTERVAL = 5.0
PEER_QUERY_TIMEOUT = 5.0
# A master does not ask a peer that told it its state (with the peer's own query) this
# recently: the peer's next query is due in PEER_CHECK_INTERVAL, the margin is for its lateness.
REPORT_FRESH = 2 * PEER_CHECK_INTERVAL


def query_peers(cfg, peers, timeout=PEER_QUERY_TIMEOUT, links=None, report=None) -> dict:
    """name -> the peer's state dict, for the peers that answered (over links, the daemon's, if given).

    report: this node's own state, told to each peer as the query's input (protocol.peer_report).
    """
    answers = {}
    told = json.dumps(report).encode() if report is not None else None

    def one(peer):
        try:
            answers[peer.name] = json.loads(ssh.call(cfg, peer, protocol.request("state"), input=told,
                                                     timeout=timeout, links=links))
        except (Error, ValueError):
            pass
    if len(peers) == 1:
        one(peers[0])      # the usual pair: no thread to start for it
        return dict(answers)
    # Daemon threads, not an executor: Python joins executor threads at exit, and a
    # stopping daemon must not wait out a query to a peer that is gone.
    threads = [threading.Thread(target=one, args=(p,), daemon=True, name="peer-query") for p in peers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 1)
    return dict(answers)


def fresh_reports(reports: dict, now: float, fresh: float = REPORT_FRESH) -> dict:
    """name -> state of the peers' own reports (name -> (state, monotonic time heard)) younger than `fresh`."""
    return {name: state for name, (state, at) in reports.items() if now - at < fresh}


def next_check(reports: dict, peers, now: float, every: float = PEER_CHECK_INTERVAL,
               fresh: float = REPORT_FRESH) -> float:
    """Seconds until a master's peer check has anything to do: the first told report going stale.

    reports: name -> (state, monotonic time heard); peers: the names to know.
    A peer that told nothing is asked every `every` s. While every peer keeps
    telling (a slave does with each of its state queries), the check would
    only find fresh reports: its wake-ups are what an idle master spends.
    """
    heard = [reports[name][1] for name in peers if name in reports]
    if len(heard) < len(peers):
        return every
    return max(every, min(heard) + fresh - now)


def _answer(dad) -> bool | None:
    """Whether someone answered the duplicate address detection begun with the round; None if unknown."""
    if dad is None:
        return None
    try:
        return dad.result()   # bounded: the probe listens for replies no longer than vip.dad_wait()
    except Error as e:
        log.warning("duplicate address detection failed: %s", e)
        return None


class _Periodic:
    """Runs fn in a thread of its own, at once and then every `every` s or as next_in says; keeps the last result.

    One thread for the runner's life rather than one per run: a thread's start
    was most of what an idle daemon spent on its checks. on_result() is called
    after each run, from that thread.
    """

    def __init__(self, fn, every, on_result=None, next_in=None):
        """next_in(): how long after a run began the next one comes (else `every`), asked after the run."""
        self.fn = fn
        self.next_in = next_in or (lambda: every)
        self.on_result = on_result or (lambda: None)
        self.result, self.at = None, None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="peer-check")

    def start(self):
        self.thread.start()

    def stop(self):
        """No further run; one under way is not waited for (a query to a peer that is gone takes its timeout)."""
        self.stopping.set()

    def _loop(self):
        while not self.stopping.is_set():
            began = time.monotonic()
            result = self.fn()
            if self.stopping.is_set():
                return
            self.result, self.at = result, time.time()
            self.on_result()
            self.stopping.wait(max(0.0, began + self.next_in() - time.monotonic()))


class SlaveRunner:
    def __init__(self, d):
        self.d, self.cfg = d, d.cfg
        m = self.cfg.monitor
        self.hyst = Hysteresis(m.fall, m.rise)
        self.next_round = 0.0
        self.last = {}
        self.witness_ok = None
        self.reported = None
        self.master_report = _Periodic(self._ask_master, PEER_CHECK_INTERVAL)
        self.down_since = None
        self.upkeep = Upkeep(self.cfg)   # versions prune, scheduled snapshots

    def start(self):
        if self.cfg.floating_ip and vip.release(self.cfg):
            log.warning("a slave held the floating IP %s: dropped it", self.cfg.floating_ip.address)
        self.master_report.start()

    def stop(self):
        self.master_report.stop()
        self.upkeep.stop()

    def tick(self):
        return max(0.01, self.next_round - time.monotonic())

    def _ask_master(self):
        master = self.d.master_node()
        return query_peers(self.cfg, [master], links=self.d.links, report=self.d.report()).get(master.name)

    def _other_slaves(self):
        master = self.d.master_node().name
        return [n for n in self.cfg.nodes.values() if n.name not in (master, self.cfg.node)]

    def _tasks(self):
        m, master = self.cfg.monitor, self.d.master_node()
        tasks = self.d.prober.check_tasks(master.address, m.checks, m.timeout)
        if m.witness:
            tasks["witness"] = probes.icmp_task(m.witness, m.timeout)
        for other in self._other_slaves():
            tasks[f"slave {other.name}"] = probes.icmp_task(other.address, m.timeout)
        return tasks

    def ready(self) -> bool:
        return bool(self.last)

    def master_answers(self) -> bool:
        m = self.cfg.monitor
        results = self.d.prober.round(self._tasks(), m.timeout)
        return all(p.ok for name, p in results.items() if name != "witness" and not name.startswith("slave "))

    def cycle(self):
        self.upkeep.poke()
        now = time.monotonic()
        if now < self.next_round:
            return None
        m = self.cfg.monitor
        self.next_round = next_round(self.next_round, now, m.interval)
        # Duplicate address detection for a promotion this round may decide, begun
        # with the round: it may take longer than the round, promote() waits for it.
        dad = (self.d.prober.background(vip.someone_answers, self.cfg)
               if self.cfg.floating_ip and self.hyst.last_chance() else None)
        results = self.d.prober.round(self._tasks(), m.timeout)
        self.last = results
        # A round that finds the master down may promote: its notify hooks wait for the IP (promote).
        with self.d.events.held():
            return self._decide(results, dad)

    def _decide(self, results, dad):
        m = self.cfg.monitor
        checks = {n: p for n, p in results.items() if n != "witness" and not n.startswith("slave ")}
        good = all(p.ok for p in checks.values())
        self._witness(results.get("witness"))
        change = self.hyst.feed(good)
        role, epoch = self.d.state.role.value, self.d.state.epoch
        if change is Verdict.DOWN:
            self.down_since = time.time()
            failing = "; ".join(f"{n}: {p.detail}" for n, p in checks.items() if not p.ok)
            self.d.events.emit(Event.MASTER_DOWN, role, epoch, failing)
        elif change is Verdict.UP:
            self.down_since, self.reported = None, None
            self.d.events.emit(Event.MASTER_UP, role, epoch)
            return f"master {self.d.master_node().name} is up again after {m.rise} good rounds"
        decision = slave_decision(self.hyst.verdict, self.hyst.failures, self._view(results))
        if decision.action is Action.PROMOTE:
            try:
                return failover.promote(self.d, decision.sentence, ip_answered=_answer(dad))
            except Refused as e:
                return self._report_once(Action.PROMOTE, f"{decision.sentence}, but refused: {e}")
        if decision.action is Action.ISOLATED:
            if self.reported is not Action.ISOLATED:
                self.d.events.emit(Event.ISOLATED, role, epoch, decision.sentence)
            return self._report_once(Action.ISOLATED, decision.sentence)
        if decision.action is Action.WAIT_MANUAL or decision.sentence:
            return self._report_once(decision.action, decision.sentence)
        return None

    def _view(self, results) -> View:
        m = self.cfg.monitor
        others = tuple((n.name, results[f"slave {n.name}"].ok) for n in self._other_slaves())
        reachable = {name for name, ok in others if ok} | {self.cfg.node}
        first = next((name for name in self.cfg.nodes if name in reachable), None)
        return View(failover=bool(self.cfg.floating_ip), mode=m.failover, witness=m.witness,
                    witness_ok=bool(self.witness_ok), other_slaves=others, first_reachable=first,
                    me=self.cfg.node)

    def _report_once(self, action, sentence):
        if self.reported is action:
            return None
        self.reported = action
        return sentence

    def _witness(self, probe):
        if probe is None:
            return
        if self.witness_ok and not probe.ok:
            self.d.events.emit(Event.WITNESS_LOST, self.d.state.role.value, self.d.state.epoch, probe.detail)
        self.witness_ok = probe.ok

    def master_report_text(self) -> str:
        r, at = self.master_report.result, self.master_report.at
        if not r:
            return "nothing known of the master's unsent changes"
        d = r.get("daemon") or {}
        if "unsent" not in d:
            return f"the master's daemon was not running when last asked, {time.time() - at:.0f} s ago"
        oldest = d.get("oldest_unsent_age")
        return (f"the master had {d['unsent']} unsent changes"
                f"{f', oldest {oldest:.1f} s' if oldest else ''} when last asked, {time.time() - at:.0f} s ago")

    def master_was_in_sync(self) -> bool:
        """The master's last answer said nothing was unsent, and it came shortly before it went down."""
        r, at = self.master_report.result, self.master_report.at
        if not r or not at or (r.get("daemon") or {}).get("unsent") != 0:
            return False
        return self.down_since is not None and self.down_since - at <= PEER_CHECK_INTERVAL + self.cfg.monitor.interval

    def status(self) -> dict:
        return {"monitor": {
            "master": self.hyst.verdict.value,
            "master_node": self.d.master_node().name,
            "failures": self.hyst.failures,
            "checks": {n: {"ok": p.ok, "latency": p.latency, "detail": p.detail}
                       for n, p in self.last.items()},
            "witness_ok": self.witness_ok,
            "master_report": self.master_report.result,
            "master_report_at": self.master_report.at,
        }}


class MasterRunner:
    def __init__(self, d, claim_ip: bool, watching=None):
        self.d, self.cfg = d, d.cfg
        self.replicator = Replicator(d.cfg, lambda: d.state.epoch, on_refused=d.on_refused, metrics=d.metrics,
                                     on_brake=self._brake_engaged, links=d.links, wake=d.wakeup.set)
        m = self.cfg.monitor
        self.hyst = Hysteresis(m.fall, m.rise)
        self.next_round = 0.0
        self.claim_pending = claim_ip and bool(self.cfg.floating_ip)
        self.watching = watching
        self.isolated = False
        # name -> (state, monotonic time): what peers said of themselves with their own state queries.
        self.reports = {}
        self.peer_check = _Periodic(self._check_peers, PEER_CHECK_INTERVAL, on_result=self._checked,
                                    next_in=self._next_check)

    def start(self):
        self.replicator.start(self.watching)
        self.peer_check.start()

    def heard(self, report: dict):
        """A peer told its state with its own query (the serving thread): no need to ask it ourselves."""
        self.reports[report["node"]] = (report, time.monotonic())
        if newer_master(self.d.state.epoch, {report["node"]: report}):
            self.d.wakeup.set()

    def _checked(self):
        # Only a newer epoch needs the loop at once; the rest is read by status.
        if newer_master(self.d.state.epoch, self.peer_check.result or {}):
            self.d.wakeup.set()

    def _next_check(self) -> float:
        return next_check(dict(self.reports), [p.name for p in self.cfg.peers], time.monotonic())

    def _check_peers(self) -> dict:
        """name -> state of every peer: what it told us lately, or else what it answers now.

        An idle pair exchanges one query per interval instead of two: the slave
        asks its master anyway (SlaveRunner), and tells it its own state with it.
        """
        told = fresh_reports(dict(self.reports), time.monotonic())
        ask = [p for p in self.cfg.peers if p.name not in told]
        if not ask:
            return told
        return {**told, **query_peers(self.cfg, ask, links=self.d.links, report=self.d.report())}

    def _brake_engaged(self, peer, engaged):
        self.d.events.emit(Event.DELETION_BRAKE, "master", self.d.state.epoch,
                           f"{peer.name}: {engaged.deletes} deletions under {engaged.path} paused")

    def stop(self):
        self.peer_check.stop()
        self.replicator.stop()

    def drain(self, seconds) -> bool:
        return self.replicator.wait(seconds)

    def ready(self) -> bool:
        """Every slave had its first full reconciliation tried: a dead slave must not hold back the service."""
        return self.replicator.first_sync_tried()

    def _rounds(self) -> bool:
        """Whether this master has monitor rounds to run: the claim at start, or watching its own reach."""
        return self.claim_pending or bool(self.cfg.monitor.witness and self.cfg.floating_ip)

    def tick(self):
        # Without rounds the loop sleeps until the replicator's next due work: a peer
        # check's answer, an acknowledgement to save or a suspension wakes it sooner.
        due = self.replicator.tick()
        if self._rounds():
            due = min(due, self.next_round - time.monotonic())
        return max(0.01, due)

    def cycle(self):
        sentence = self.replicator.cycle()
        # Reports of any age: an epoch above ours, once seen, means we were replaced.
        told = {name: state for name, (state, _) in dict(self.reports).items()}
        newer = (newer_master(self.d.state.epoch, told)
                 or newer_master(self.d.state.epoch, self.peer_check.result or {}))
        if newer:
            return self.d.request_suspend(f"{newer[0]} is at epoch {newer[1]}, above ours", newer[0])
        now = time.monotonic()
        if not self._rounds() or now < self.next_round:
            return sentence
        m = self.cfg.monitor
        self.next_round = now + m.interval
        if self.claim_pending:
            return self._claim_at_start()
        tasks = {f"slave {p.name}": probes.icmp_task(p.address, m.timeout) for p in self.cfg.peers}
        tasks["witness"] = probes.icmp_task(m.witness, m.timeout)
        results = self.d.prober.round(tasks, m.timeout)
        slaves_ok = any(p.ok for n, p in results.items() if n != "witness")
        change = self.hyst.feed(master_reach(slaves_ok, m.witness, results["witness"].ok))
        if change is Verdict.DOWN:
            return self._isolated()
        if change is Verdict.UP and self.isolated:
            return self._rejoined()
        return sentence

    def _claim_at_start(self):
        """Before holding the IP after a (re)start, make sure no newer master exists."""
        peers = query_peers(self.cfg, self.cfg.peers, links=self.d.links)
        newer = newer_master(self.d.state.epoch, peers)
        if newer:
            return self.d.request_suspend(f"{newer[0]} is at epoch {newer[1]}, above ours", newer[0])
        if not peers and vip.someone_answers(self.cfg):
            self.next_round = time.monotonic() + PEER_CHECK_INTERVAL
            return (f"no peer answers and someone holds the floating IP {self.cfg.floating_ip.address}: "
                    "not claiming it; asking again shortly")
        self.claim_pending = False
        return self._hold_ip("holding the floating IP" + ("" if peers else " (no peer answered; the IP was free)"))

    def _hold_ip(self, sentence):
        vip.claim(self.cfg)
        st = self.d.state
        hooks.run(self.cfg, "promote", self.cfg.hooks.promote, Event.PROMOTED.value, "master", st.epoch, sentence)
        return f"{sentence}: {self.cfg.floating_ip.address}"

    def _isolated(self):
        st, m = self.d.state, self.cfg.monitor
        sentence = (f"reaching neither a slave nor the witness for {m.fall} rounds: "
                    "dropped the floating IP, still master of the data")
        self.isolated = True
        vip.release(self.cfg)
        hooks.run(self.cfg, "demote", self.cfg.hooks.demote, Event.ISOLATED.value, "master", st.epoch, sentence)
        self.d.events.emit(Event.ISOLATED, "master", st.epoch, sentence)
        return sentence

    def _rejoined(self):
        peers = query_peers(self.cfg, self.cfg.peers, links=self.d.links)
        newer = newer_master(self.d.state.epoch, peers)
        if newer:
            return self.d.request_suspend(f"{newer[0]} took over at epoch {newer[1]} while we were isolated", newer[0])
        if vip.someone_answers(self.cfg):
            self.hyst.verdict = Verdict.DOWN   # look again next round; do not fight over the IP
            return "reachable again, but someone answers for the floating IP: not taking it back yet"
        self.isolated = False
        return self._hold_ip("reachable again and no newer master: taking the floating IP back")

    def status(self) -> dict:
        out = self.replicator.status()
        if self.cfg.floating_ip:
            out["floating_ip"] = {"address": self.cfg.floating_ip.address,
                                  "held": not self.isolated and not self.claim_pending}
        out["peers"] = self.peer_check.result
        return out


class SuspendedRunner:
    def __init__(self, d):
        self.d, self.cfg = d, d.cfg

    def start(self):
        if self.cfg.floating_ip and vip.release(self.cfg):
            log.warning("a suspended node held the floating IP %s: dropped it", self.cfg.floating_ip.address)

    def stop(self):
        pass

    def tick(self):
        return 1.0

    def ready(self) -> bool:
        return True

    def cycle(self):
        return None

    def status(self) -> dict:
        st = self.d.state
        return {"suspended": {"reason": st.reason, "since": st.role_since, "newer_master": st.master,
                              "next": "inspect with `fmirror restore --dry-run`, then run `fmirror restore`"}}
