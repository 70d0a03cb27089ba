import http.client
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fmirror.api import ApiServer, parse_listen
from fmirror.metrics import Metrics

MASTER = {
    "node": "alpha", "role": "master", "epoch": 4,
    "slaves": {"beta": {"address": "198.51.100.2", "state": "ok", "unsent": 2, "oldest_unsent_age": 0.3,
                        "full_sync_pending": False, "lag": 0.3, "bytes_sent": 4096, "pushes": 7,
                        "last_full_sync_seconds": 1.5}},
}
SLAVE = {"node": "beta", "role": "slave", "epoch": 4,
         "monitor": {"master": "up", "checks": {"icmp": {"ok": True, "latency": 0.002},
                                                "tcp:443": {"ok": False, "latency": None}}}}
SUSPENDED = {"node": "alpha", "role": "suspended", "epoch": 3}


class FakeStatus:
    """The daemon's status callable; raises when given an exception."""

    def __init__(self):
        self.value = MASTER

    def __call__(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@pytest.fixture(scope="module")
def shared_server():
    # One server for the module: each close() waits out serve_forever's poll interval.
    status = FakeStatus()
    server = ApiServer("127.0.0.1:0", status, Metrics())
    server.start()
    yield server, status
    server.close()


@pytest.fixture
def api(shared_server):
    server, status = shared_server
    status.value = MASTER
    server.metrics = Metrics()
    return server, status


def request(server, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("status,expected", [
    (MASTER, {"/health": 200, "/master": 200, "/slave": 503, "/status": 200, "/metrics": 200}),
    (SLAVE, {"/health": 200, "/master": 503, "/slave": 200, "/status": 200, "/metrics": 200}),
    (SUSPENDED, {"/health": 503, "/master": 503, "/slave": 503, "/status": 200, "/metrics": 200}),
])
def test_every_endpoint_answers_with_the_code_for_the_role(api, status, expected):
    server, fake = api
    fake.value = status
    assert {path: request(server, path)[0] for path in expected} == expected


def test_health_body_says_role_and_reason(api):
    server, fake = api
    fake.value = SUSPENDED
    code, ctype, body = request(server, "/health")
    assert (code, ctype) == (503, "application/json")
    assert json.loads(body) == {"ok": False, "role": "suspended", "reason": "suspended: awaiting fmirror restore"}


def test_master_health_fails_when_a_slave_lags_past_the_bound():
    lagging = {**MASTER, "slaves": {"beta": {**MASTER["slaves"]["beta"], "lag": 3.0}}}
    server = ApiServer("127.0.0.1:0", lambda: lagging, Metrics(), lag_bound=2.0)
    server.start()
    try:
        code, _, body = request(server, "/health")
    finally:
        server.close()
    assert code == 503
    assert json.loads(body)["reason"] == "beta: lag 3.0 s > 2 s"


def test_status_is_the_status_dict_as_json(api):
    server, fake = api
    fake.value = SLAVE
    code, ctype, body = request(server, "/status?pretty=1")
    assert (code, ctype) == (200, "application/json")
    assert json.loads(body) == SLAVE


def test_metrics_parse_and_carry_the_expected_families(api):
    server, _ = api
    server.metrics.event("promoted")
    server.metrics.push_error("beta", "retrying")
    server.metrics.full_sync("beta", 12.0)
    server.metrics.failover()
    code, ctype, body = request(server, "/metrics")
    assert code == 200 and ctype.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {"fmirror_role", "fmirror_epoch", "fmirror_slave_unsent_changes", "fmirror_slave_pushed_bytes",
            "fmirror_slave_pushes", "fmirror_push_errors", "fmirror_full_syncs", "fmirror_failovers",
            "fmirror_events", "fmirror_full_sync_duration_seconds"} <= families.keys()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("fmirror_role", (("role", "master"),))] == 1
    assert samples[("fmirror_role", (("role", "slave"),))] == 0
    assert samples[("fmirror_epoch", ())] == 4
    assert samples[("fmirror_slave_unsent_changes", (("slave", "beta"),))] == 2
    assert samples[("fmirror_slave_pushed_bytes_total", (("slave", "beta"),))] == 4096
    assert samples[("fmirror_events_total", (("event", "promoted"),))] == 1
    assert samples[("fmirror_push_errors_total", (("kind", "retrying"), ("slave", "beta")))] == 1
    assert samples[("fmirror_failovers_total", ())] == 1


def test_metrics_follow_the_status_at_each_scrape(api):
    server, fake = api
    request(server, "/metrics")
    fake.value = SLAVE
    body = request(server, "/metrics")[2].decode()
    assert 'fmirror_role{role="slave"} 1.0' in body
    assert "fmirror_slave_unsent_changes{" not in body
    assert "fmirror_monitor_master_up 1.0" in body


def test_a_failing_status_is_a_500_and_the_server_keeps_answering(api):
    server, fake = api
    fake.value = RuntimeError("runner gone")
    for path in ("/health", "/master", "/status", "/metrics"):
        code, ctype, body = request(server, path)
        assert (code, ctype) == (500, "application/json")
        assert "runner gone" in json.loads(body)["reason"]
    fake.value = MASTER
    assert request(server, "/health")[0] == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "BREW"])
def test_only_get_and_head_are_allowed(api, method):
    server, _ = api
    assert request(server, "/health", method)[0] == 405


def test_head_answers_like_get_without_a_body(api):
    server, _ = api
    assert request(server, "/master", "HEAD") == (200, "application/json", b"")


def test_unknown_paths_are_404_without_asking_the_status(api):
    server, fake = api
    fake.value = RuntimeError("must not be called")
    assert request(server, "/")[0] == 404
    assert request(server, "/health/extra")[0] == 404


def test_close_stops_answering_and_releases_the_port():
    server = ApiServer("127.0.0.1:0", lambda: MASTER, Metrics())
    server.start()
    port = server.port
    server.close()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).connect()
    again = ApiServer(f"127.0.0.1:{port}", lambda: MASTER, Metrics())
    again.start()
    again.close()


@pytest.mark.parametrize("listen,expected", [
    ("127.0.0.1:8730", ("127.0.0.1", 8730)),
    ("[::1]:9000", ("::1", 9000)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(listen, expected):
    assert parse_listen(listen) == expected
