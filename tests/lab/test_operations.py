"""The daemon as a Linux citizen: HTTP API, metrics, systemd notify, in the lab."""

import json
import socket
import time

from prometheus_client.parser import text_string_to_metric_families

from fmirror.lab import FMIRROR, mirror as lab_mirror, trees
from fmirror.lab.cluster import Cluster, config
from fmirror.lab.wait import wait_until

from trees_gen import tricky_tree

API = "http://127.0.0.1:8730"


def _get(lab, host, path):
    """(status code, body) of GET path on the host's own API (it listens on its loopback)."""
    probe = ("import sys, urllib.request, urllib.error\n"
             "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); sys.stdout.write(r.read().decode())\n"
             "except urllib.error.HTTPError as e:\n print(e.code); sys.stdout.write(e.read().decode())\n")
    out = lab[host].run([lab_mirror.FMIRROR.parent / "python", "-c", probe, API + path], check=True).text
    code, _, body = out.partition("\n")
    return int(code), body


def _codes(lab, host):
    return {p: _get(lab, host, p)[0] for p in ("/health", "/master", "/slave", "/status", "/metrics")}


def test_api_answers_by_role_before_and_after_a_failover(make_lab):
    lab = make_lab()
    cluster = Cluster(lab, config(lab)).start()
    wait_until(lambda: _get(lab, "slave", "/health")[0] == 200, 30, "slave healthy")
    assert _codes(lab, "master") == {"/health": 200, "/master": 200, "/slave": 503, "/status": 200, "/metrics": 200}
    assert _codes(lab, "slave") == {"/health": 200, "/master": 503, "/slave": 200, "/status": 200, "/metrics": 200}
    status = json.loads(_get(lab, "master", "/status")[1])
    assert (status["node"], status["role"], status["epoch"]) == ("master", "master", 1)
    families = {f.name for f in text_string_to_metric_families(_get(lab, "master", "/metrics")[1])}
    assert {"fmirror_epoch", "fmirror_role"} <= families
    lab.link_down("master")
    cluster.wait_holder("slave", 30)
    codes = _codes(lab, "slave")
    assert (codes["/master"], codes["/slave"]) == (200, 503)
    # The new master has no slave in reach: it does not fulfil its role.
    assert codes["/health"] == 503
    body = _get(lab, "slave", "/metrics")[1]
    samples = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}
    assert samples["fmirror_epoch"] == 2
    assert samples.get("fmirror_failovers_total") == 1


def test_ready_comes_after_the_first_full_reconciliation_and_watchdog_pings_follow(mirror_factory, tmp_path):
    mirror = mirror_factory()
    tricky_tree(mirror.m(), big=False)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    try:
        mirror.lab.start_daemon("slave")
        mirror.master.spawn(["env", f"NOTIFY_SOCKET={sock_path}", "WATCHDOG_USEC=1000000", FMIRROR, "daemon"],
                            mirror.lab.log_path("master", "daemon"))
        messages = []
        while not any("READY=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
            if "READY=1" in messages[-1]:
                # At READY the slave already holds everything the master had at start.
                assert trees.differences(trees.snapshot(mirror.m()), trees.snapshot(mirror.s())) == []
        assert "STATUS=master, epoch 1" in messages[-1]
        pings, deadline = 0, time.monotonic() + 10
        while pings < 3 and time.monotonic() < deadline:
            if "WATCHDOG=1" in sock.recv(4096).decode():
                pings += 1
        assert pings >= 3
    finally:
        sock.close()
