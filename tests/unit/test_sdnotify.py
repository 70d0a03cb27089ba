import logging
import os
import socket

import pytest

from fmirror.sdnotify import Notifier, watchdog_seconds


@pytest.fixture
def listener(tmp_path):
    """systemd's side: a datagram socket bound in tmp_path."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def received(sock) -> str:
    return sock.recv(4096).decode()


def test_from_env_notifies_the_socket_in_notify_socket(listener, monkeypatch):
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier.from_env()
    notifier.ready("master, epoch 4")
    notifier.status("pushing to beta")
    notifier.watchdog()
    notifier.stopping()
    assert [received(sock) for _ in range(4)] == [
        "READY=1\nSTATUS=master, epoch 4", "STATUS=pushing to beta", "WATCHDOG=1", "STOPPING=1"]
    assert notifier.watchdog_interval() == 15.0


def test_abstract_socket_is_addressed_with_a_leading_nul():
    name = f"fmirror-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        Notifier.from_env({"NOTIFY_SOCKET": f"@{name}"}).ready("up")
        assert received(sock) == "READY=1\nSTATUS=up"
    finally:
        sock.close()


def test_a_newline_in_status_text_cannot_start_another_assignment(listener):
    path, sock = listener
    Notifier(path).status("line one\nREADY=1")
    assert received(sock) == "STATUS=line one READY=1"


def test_watchdog_pings_at_most_once_per_interval(listener):
    path, sock = listener
    now = [100.0]
    notifier = Notifier(path, watchdog_interval=15.0, clock=lambda: now[0])
    notifier.watchdog()
    now[0] += 14.9
    notifier.watchdog()
    now[0] += 0.1
    notifier.watchdog()
    notifier.status("marker")
    assert [received(sock) for _ in range(3)] == ["WATCHDOG=1", "WATCHDOG=1", "STATUS=marker"]


def test_watchdog_is_a_no_op_without_a_watchdog(listener):
    path, sock = listener
    notifier = Notifier(path, watchdog_interval=None)
    notifier.watchdog()
    notifier.status("marker")
    assert received(sock) == "STATUS=marker"


def test_everything_is_a_no_op_outside_systemd():
    notifier = Notifier.from_env({})
    assert notifier.watchdog_interval() is None
    notifier.ready("up")
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping()


def test_a_send_error_is_logged_once_and_never_raised(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens"), watchdog_interval=0.0)
    with caplog.at_level(logging.WARNING, logger="fmirror.sdnotify"):
        notifier.ready("up")
        notifier.watchdog()
        notifier.stopping()
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()


@pytest.mark.parametrize("environ,expected", [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_seconds_is_half_of_watchdog_usec_for_this_process(environ, expected):
    assert watchdog_seconds(environ, pid=4242) == expected
