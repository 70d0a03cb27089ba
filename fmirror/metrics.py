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

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from fmirror.config.model import Role

# Full syncs take from a second (small tree, nothing changed) to hours
# (first seed of terabytes); the default buckets stop at 10 s.
FULL_SYNC_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)


def _number(value):
    """value as a float (True -> 1.0), or None when the status does not know it (yet)."""
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _gauge(name, doc, labels=()):
    return GaugeMetricFamily(name, doc, labels=list(labels))


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
        "bytes_sent": CounterMetricFamily("fmirror_slave_pushed_bytes", "Bytes rsync sent to this slave",
                                          labels=["slave"]),
        "pushes": CounterMetricFamily("fmirror_slave_pushes", "Successful pushes to this slave", labels=["slave"]),
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


class _StatusCollector:
    """Builds the status-derived families from the last status given to it.

    collect() takes the reference once, so a scrape racing another scrape's
    update_from_status renders one whole status, never a mix of two.
    """

    def __init__(self):
        self.status = {}

    def collect(self):
        return status_metrics(self.status)


class Metrics:
    def __init__(self):
        # A registry of our own: the global one would add process and GC
        # metrics nobody asked for and leak between tests.
        self.registry = CollectorRegistry()
        self._status = _StatusCollector()
        self.registry.register(self._status)
        self._events = Counter("fmirror_events", "State changes, by event name (the notify hook's events)",
                               ["event"], registry=self.registry)
        self._push_errors = Counter("fmirror_push_errors", "Failed pushes, by slave and kind",
                                    ["slave", "kind"], registry=self.registry)
        self._full_syncs = Counter("fmirror_full_syncs", "Completed full reconciliations", ["slave"],
                                   registry=self.registry)
        self._full_sync_seconds = Histogram("fmirror_full_sync_duration_seconds",
                                            "Duration of full reconciliations", ["slave"],
                                            buckets=FULL_SYNC_BUCKETS, registry=self.registry)
        self._failovers = Counter("fmirror_failovers", "Promotions of this node after its master was lost",
                                  registry=self.registry)

    def update_from_status(self, status: dict) -> None:
        self._status.status = status

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def event(self, name: str) -> None:
        self._events.labels(event=name).inc()

    def push_error(self, slave: str, kind: str) -> None:
        self._push_errors.labels(slave=slave, kind=kind).inc()

    def full_sync(self, slave: str, seconds: float) -> None:
        self._full_syncs.labels(slave=slave).inc()
        self._full_sync_seconds.labels(slave=slave).observe(seconds)

    def failover(self) -> None:
        self._failovers.inc()
