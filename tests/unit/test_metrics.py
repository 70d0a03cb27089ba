import time
from pathlib import Path

# The reference parser: what Prometheus' own client library makes of the text.
from prometheus_client.parser import text_string_to_metric_families

from fmirror.metrics import Metrics


def _samples(metrics):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(metrics.render().decode()) for s in f.samples}


def test_unknown_values_leave_their_sample_out_instead_of_breaking_the_scrape():
    m = Metrics()
    m.update_from_status({"role": "master", "epoch": None,
                          "slaves": {"beta": {"state": "starting", "unsent": 0, "oldest_unsent_age": None,
                                              "lag": None, "full_sync_pending": True, "bytes_sent": 0}}})
    samples = _samples(m)
    assert ("fmirror_epoch", ()) not in samples
    assert ("fmirror_slave_lag_seconds", (("slave", "beta"),)) not in samples
    assert samples[("fmirror_slave_full_sync_pending", (("slave", "beta"),))] == 1
    assert samples[("fmirror_slave_state", (("slave", "beta"), ("state", "starting")))] == 1


def test_probe_results_come_from_the_monitor_section():
    m = Metrics()
    m.update_from_status({"role": "slave", "epoch": 2, "monitor": {
        "master": "down", "checks": {"icmp": {"ok": False, "latency": None}, "http": {"ok": True, "latency": 0.01}}}})
    samples = _samples(m)
    assert samples[("fmirror_monitor_master_up", ())] == 0
    assert samples[("fmirror_probe_ok", (("check", "icmp"),))] == 0
    assert samples[("fmirror_probe_ok", (("check", "http"),))] == 1
    assert samples[("fmirror_probe_latency_seconds", (("check", "http"),))] == 0.01
    assert ("fmirror_probe_latency_seconds", (("check", "icmp"),)) not in samples


def test_a_node_without_slaves_or_monitor_still_renders_role_and_epoch():
    m = Metrics()
    m.update_from_status({"role": "suspended", "epoch": 3})
    samples = _samples(m)
    assert samples[("fmirror_role", (("role", "suspended"),))] == 1
    assert samples[("fmirror_epoch", ())] == 3
    assert not any(name.startswith(("fmirror_slave_", "fmirror_probe_")) for name, _ in samples)


def test_full_sync_counts_and_observes_its_duration():
    m = Metrics()
    m.full_sync("beta", 42.0)
    m.full_sync("beta", 2.0)
    samples = _samples(m)
    assert samples[("fmirror_full_syncs_total", (("slave", "beta"),))] == 2
    assert samples[("fmirror_full_sync_duration_seconds_sum", (("slave", "beta"),))] == 44.0
    assert samples[("fmirror_full_sync_duration_seconds_bucket", (("le", "5.0"), ("slave", "beta")))] == 1


def test_each_metrics_has_its_own_registry():
    a, b = Metrics(), Metrics()
    a.failover()
    assert _samples(a)[("fmirror_failovers_total", ())] == 1
    assert _samples(b)[("fmirror_failovers_total", ())] == 0


def test_the_text_is_byte_for_byte_what_prometheus_client_rendered(monkeypatch):
    # metrics_golden.txt: prometheus-client 0.26's output for these calls, recorded before
    # fmirror rendered the format itself. Dashboards and alerts must not see a difference.
    monkeypatch.setattr(time, "time", lambda: 1796157849.434471)
    fresh = Metrics().render()
    m = Metrics()
    m.update_from_status({
        "role": "master", "epoch": 4,
        "slaves": {"beta": {"state": "ok", "unsent": 3, "oldest_unsent_age": 0.25, "lag": 0.1,
                            "full_sync_pending": False, "last_full_sync_seconds": 12345678.5,
                            "bytes_sent": 10**12, "pushes": 7},
                   'we"ird\\n\name': {"state": "retrying", "unsent": True, "lag": float("inf")}},
        "monitor": {"master": "up", "checks": {"icmp": {"ok": True, "latency": 1e-05},
                                               "x": {"ok": False, "latency": 123456789.0}}}})
    m.event("promoted")
    m.event("promoted")
    m.event("demoted")
    m.push_error("beta", "refused")
    m.push_error("gamma", "retrying")
    m.full_sync("beta", 3.2)
    m.full_sync("beta", 7200)
    m.full_sync("gamma", 1e9)
    m.full_sync("gamma", 0.5)
    m.failover()
    golden = (Path(__file__).parent / "metrics_golden.txt").read_bytes()
    assert fresh + b"=====\n" + m.render() == golden
