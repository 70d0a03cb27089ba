"""serving.Serving: a server thread that answers clients, sleeps while none come, and stops when closed."""

import socket
import socketserver
import time

from fmirror.serving import Serving


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.recv(16))


def _switches(thread_id: int) -> int:
    """How many times the thread went to sleep and was woken (a thread that polls does it twice a second)."""
    with open(f"/proc/self/task/{thread_id}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no context switch count")


def _asleep(thread_id: int) -> int:
    """The thread's count once it went back to sleep after a client (it closes the request first)."""
    deadline, last = time.monotonic() + 5, None
    while time.monotonic() < deadline:
        now = _switches(thread_id)
        if now == last:
            return now
        last = now
        time.sleep(0.1)
    raise AssertionError("the server thread never went back to sleep")


def _ask(path) -> bytes:
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
        client.sendall(b"ping")
        return client.recv(16)


def test_it_answers_sleeps_while_idle_and_stops_on_close(tmp_path):
    path = str(tmp_path / "s.sock")
    server = socketserver.UnixStreamServer(path, _Echo)
    serving = Serving(server, "test")
    assert _ask(path) == b"ping"
    before = _asleep(serving._thread.native_id)
    time.sleep(1.2)
    assert _switches(serving._thread.native_id) == before
    assert _ask(path) == b"ping"
    serving.close()
    assert not serving._thread.is_alive()
    assert server.socket.fileno() == -1
