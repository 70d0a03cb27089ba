"""Prometheus metrics, fed two ways.

Gauges, and the per-slave counters the pushers already keep, are read from
the status dict (the same one `fmirror status --json` prints) at scrape
time: nothing has to be kept in step with the daemon's own state. Things
that happen and are then gone (an event, a push error, a full sync, a
failover) are counted by explicit calls.

Keys read from the status dict, every one optional (a missing key or a
None value leaves its sample out, so a partial status never breaks a scrape):

    role                                    -> fmirror_role{role}
    epoch                                   -> fmirror_epoch
    slaves.<name>.state                     -> fmirror_slave_state{slave,state}
    slaves.<name>.unsent                    -> fmirror_slave_unsent_changes{slave}
    slaves.<name>.oldest_unsent_age         -> fmirror_slave_oldest_unsent_age_seconds{slave}
    slaves.<name>.lag                       -> fmirror_slave_lag_seconds{slave}
    slaves.<name>.full_sync_pending         -> fmirror_slave_full_sync_pending{slave}
    slaves.<name>.last_full_sync_seconds    -> fmirror_slave_last_full_sync_duration_seconds{slave}
    slaves.<name>.bytes_sent                -> fmirror_slave_pushed_bytes_total{slave}
    slaves.<name>.pushes                    -> fmirror_slave_pushes_total{slave}
    monitor.master  ("up" / "down")         -> fmirror_monitor_master_up
    monitor.checks.<name>.ok                -> fmirror_probe_ok{check}
    monitor.checks.<name>.latency (seconds) -> fmirror_probe_latency_seconds{check}
"""

import math
import threading
import time

from fmirror.config.model import Role

# What prometheus-client 0.26 sent for this format, which it was rendered by until fmirror
# wrote it itself (that library and the ssl it loads cost every daemon 6 MB resident).
CONTENT_TYPE = "text/plain; version=1.0.0; charset=utf-8"

# Full syncs take from a second (small tree, nothing changed) to hours
# (first seed of terabytes); the default buckets stop at 10 s.
FULL_SYNC_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)


class Family:
    """One metric in the Prometheus text format: its name, type, help line and samples."""

    def __init__(self, name: str, kind: str, doc: str, labels=()):
        self.name, self.kind, self.doc, self.labels = name, kind, doc, tuple(labels)
        self.samples = []   # (sample name, label values, value)

    def add_metric(self, values, value: float, suffix: str = "", extra=()) -> None:
        """A sample for these label values; extra: (label, value) pairs beyond the family's (a bucket's le)."""
        labels = sorted((*zip(self.labels, values), *extra))
        self.samples.append((self.name + suffix, labels, value))

    def render(self) -> str:
        lines = [f"# HELP {self.name} {_escape_help(self.doc)}\n", f"# TYPE {self.name} {self.kind}\n"]
        for name, labels, value in self.samples:
            inside = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
            lines.append(f"{name}{{{inside}}} {go_float(value)}\n" if inside else f"{name} {go_float(value)}\n")
        return "".join(lines)


def go_float(value: float) -> str:
    """A sample value as Prometheus writes it: Go's float formatting, which turns to exponents sooner than repr."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def render(families) -> bytes:
    return "".join(family.render() for family in families).encode()


def _number(value):
    """value as a float (True -> 1.0), or None when the status does not know it (yet)."""
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _gauge(name, doc, labels=()):
    return Family(name, "gauge", doc, labels)


def role_metrics(status: dict) -> list:
    role = _gauge("fmirror_role", "1 for this node's current role, 0 for the others", ["role"])
    current = status.get("role")
    if current is not None:
        for r in Role:
            role.add_metric([r.value], 1.0 if r.value == current else 0.0)
    epoch = _gauge("fmirror_epoch", "Generation number: +1 at every promotion")
    if _number(status.get("epoch")) is not None:
        epoch.add_metric([], _number(status["epoch"]))
    return [role, epoch]


def slave_metrics(slaves: dict) -> list:
    """The master's view of each slave; empty on a slave or a suspended node."""
    state = _gauge("fmirror_slave_state", "1 for the slave's current push state (ok, retrying, refused, starting)",
                   ["slave", "state"])
    gauges = {
        "unsent": _gauge("fmirror_slave_unsent_changes", "Changes no push to this slave acknowledged yet",
                         ["slave"]),
        "oldest_unsent_age": _gauge("fmirror_slave_oldest_unsent_age_seconds",
                                    "Age of the oldest unacknowledged change (absent when none)", ["slave"]),
        "lag": _gauge("fmirror_slave_lag_seconds",
                      "How far the slave is behind (absent while a full sync decides it)", ["slave"]),
        "full_sync_pending": _gauge("fmirror_slave_full_sync_pending", "1 while a full reconciliation is due",
                                    ["slave"]),
        "last_full_sync_seconds": _gauge("fmirror_slave_last_full_sync_duration_seconds",
                                         "Duration of the last full reconciliation", ["slave"]),
    }
    # The pushers count from their own start: these reset on a daemon restart
    # or reload, which Prometheus' rate() and increase() handle as a reset.
    counters = {
        "bytes_sent": Family("fmirror_slave_pushed_bytes_total", "counter", "Bytes rsync sent to this slave",
                             ["slave"]),
        "pushes": Family("fmirror_slave_pushes_total", "counter", "Successful pushes to this slave", ["slave"]),
    }
    by_key = {**gauges, **counters}
    for name, s in slaves.items():
        s = _dict(s)
        if isinstance(s.get("state"), str):
            state.add_metric([name, s["state"]], 1.0)
        for key, family in by_key.items():
            value = _number(s.get(key))
            if value is not None:
                family.add_metric([name], value)
    return [state, *gauges.values(), *counters.values()]


def monitor_metrics(monitor: dict) -> list:
    """A slave's probes of its master; empty when the status has no monitor section."""
    master_up = _gauge("fmirror_monitor_master_up", "1 when the monitor sees the master up, 0 when down")
    if monitor.get("master") in ("up", "down"):
        master_up.add_metric([], 1.0 if monitor["master"] == "up" else 0.0)
    ok = _gauge("fmirror_probe_ok", "1 when the last probe of this check succeeded", ["check"])
    latency = _gauge("fmirror_probe_latency_seconds", "Latency of the last probe of this check", ["check"])
    for name, check in _dict(monitor.get("checks")).items():
        check = _dict(check)
        if _number(check.get("ok")) is not None:
            ok.add_metric([name], _number(check["ok"]))
        if _number(check.get("latency")) is not None:
            latency.add_metric([name], _number(check["latency"]))
    return [master_up, ok, latency]


def status_metrics(status: dict) -> list:
    return (role_metrics(status) + slave_metrics(_dict(status.get("slaves")))
            + monitor_metrics(_dict(status.get("monitor"))))


class _Counter:
    """Counts by label values, each with the time of its first count (the _created series)."""

    def __init__(self, name: str, doc: str, labels=()):
        self.name, self.doc, self.labels = name, doc, tuple(labels)
        self.children = {} if labels else {(): [0.0, time.time()]}   # label values -> [count, created]

    def inc(self, *values: str) -> None:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = [0.0, time.time()]
        child[0] += 1

    def families(self) -> list:
        total = Family(self.name + "_total", "counter", self.doc, self.labels)
        created = Family(self.name + "_created", "gauge", self.doc, self.labels)
        for values, (count, since) in self.children.items():
            total.add_metric(values, count)
            created.add_metric(values, since)
        return [total, created] if created.samples else [total]


class _Histogram:
    """Observations by label values: cumulative buckets, count and sum, and the _created series."""

    def __init__(self, name: str, doc: str, labels, buckets):
        self.name, self.doc, self.labels = name, doc, tuple(labels)
        self.bounds = (*map(float, buckets), math.inf)
        self.children = {}   # label values -> [count in each bucket (not cumulative), sum, created]

    def observe(self, values: tuple, amount: float) -> None:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = [[0] * len(self.bounds), 0.0, time.time()]
        child[0][next(i for i, bound in enumerate(self.bounds) if amount <= bound)] += 1
        child[1] += amount

    def families(self) -> list:
        observed = Family(self.name, "histogram", self.doc, self.labels)
        created = Family(self.name + "_created", "gauge", self.doc, self.labels)
        for values, (counts, total, since) in self.children.items():
            below = 0
            for bound, count in zip(self.bounds, counts):
                below += count
                observed.add_metric(values, below, "_bucket", [("le", go_float(bound))])
            observed.add_metric(values, below, "_count")
            observed.add_metric(values, total, "_sum")
            created.add_metric(values, since)
        return [observed, created] if created.samples else [observed]


class Metrics:
    """The daemon's metrics; counts come from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._status = {}
        self._events = _Counter("fmirror_events", "State changes, by event name (the notify hook's events)",
                                ["event"])
        self._push_errors = _Counter("fmirror_push_errors", "Failed pushes, by slave and kind", ["slave", "kind"])
        self._full_syncs = _Counter("fmirror_full_syncs", "Completed full reconciliations", ["slave"])
        self._full_sync_seconds = _Histogram("fmirror_full_sync_duration_seconds", "Duration of full reconciliations",
                                             ["slave"], FULL_SYNC_BUCKETS)
        self._failovers = _Counter("fmirror_failovers", "Promotions of this node after its master was lost")

    def update_from_status(self, status: dict) -> None:
        self._status = status

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format."""
        # The status is taken once, so a scrape racing another scrape's
        # update_from_status renders one whole status, never a mix of two.
        families = status_metrics(self._status)
        with self._lock:
            for counted in (self._events, self._push_errors, self._full_syncs, self._full_sync_seconds,
                            self._failovers):
                families += counted.families()
        return render(families)

    def event(self, name: str) -> None:
        with self._lock:
            self._events.inc(name)

    def push_error(self, slave: str, kind: str) -> None:
        with self._lock:
            self._push_errors.inc(slave, kind)

    def full_sync(self, slave: str, seconds: float) -> None:
        with self._lock:
            self._full_syncs.inc(slave)
            self._full_sync_seconds.observe((slave,), seconds)

    def failover(self) -> None:
        with self._lock:
            self._failovers.inc()
