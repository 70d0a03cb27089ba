"""The monitor's HTTP and TCP probes against real servers on loopback."""

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fmirror import probes

TIMEOUT = 0.5


class _Handler(BaseHTTPRequestHandler):
    """/ is 200, /moved a redirect to /, anything else 404."""

    def do_GET(self):
        status = {"/": 200, "/moved": 302}.get(self.path, 404)
        body = b"ok"
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def _server(family=socket.AF_INET, address="127.0.0.1"):
    class Server(ThreadingHTTPServer):
        address_family = family
    server = Server((address, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_http_passes_on_the_expected_status_only_and_follows_no_redirect():
    with _server() as port:
        assert probes.http("127.0.0.1", port, "/", 200, TIMEOUT) == (True, "")
        assert probes.http("127.0.0.1", port, "/moved", 302, TIMEOUT) == (True, "")
        assert probes.http("127.0.0.1", port, "/moved", 200, TIMEOUT) == (False, "http status 302, expected 200")
        assert probes.http("127.0.0.1", port, "/gone", 200, TIMEOUT) == (False, "http status 404, expected 200")


def test_http_reaches_an_ipv6_literal():
    with _server(socket.AF_INET6, "::1") as port:
        assert probes.http("::1", port, "/", 200, TIMEOUT) == (True, "")


def test_http_and_tcp_fail_in_one_line_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]     # bound, not listening: connections are refused
        ok, detail = probes.http("127.0.0.1", port, "/", 200, TIMEOUT)
        assert not ok and detail == "http: ConnectionRefusedError"
        ok, detail = probes.tcp("127.0.0.1", port, TIMEOUT)
        assert not ok and detail.startswith(f"tcp {port}: ") and "\n" not in detail


def test_http_fails_on_a_server_that_never_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)                   # the kernel accepts the connection; nobody ever reads or answers
        ok, detail = probes.http("127.0.0.1", s.getsockname()[1], "/", 200, 0.2)
    assert not ok and detail == "http: TimeoutError"



@contextmanager
def _raw_server(answer):
    """A server that reads the request, then runs answer(conn) on the connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            try:
                answer(conn)
            except OSError:
                pass      # the probe gave up and closed: what it should do
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)


def test_http_gives_up_at_its_timeout_on_a_server_that_trickles_its_answer():
    """Each byte within the timeout, the whole line far past it: the probe ends at its timeout,
    not holding a thread of the pool the other checks run on."""
    def trickle(conn):
        for byte in b"HTTP/1.1 200 OK\r\n\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.1)
    with _raw_server(trickle) as port:
        began = time.monotonic()
        ok, detail = probes.http("127.0.0.1", port, "/", 200, 0.3)
        took = time.monotonic() - began
    assert not ok and detail == "http: TimeoutError"
    assert took < 1.5        # the whole line takes 1.9 s: given up before, at its timeout


def test_http_fails_on_an_answer_that_is_not_http_or_ends_before_its_status_line():
    with _raw_server(lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")) as port:
        assert probes.http("127.0.0.1", port, "/", 200, TIMEOUT) == (False, "http: ValueError")
    with _raw_server(lambda conn: conn.sendall(b"HTTP/1.1 20")) as port:
        assert probes.http("127.0.0.1", port, "/", 200, TIMEOUT) == (False, "http: ConnectionResetError")


def test_an_http_probe_imports_nothing():
    """Loaded by the first probe, an HTTP client's import ran inside a round, failed it at the fast
    setting, and a slave that had just started declared its live master down."""
    with _server() as port:
        code = ("import sys\nfrom fmirror import probes\nbefore = set(sys.modules)\n"
                f"assert probes.http('127.0.0.1', {port}, '/', 200, 5) == (True, '')\n"
                "print(sorted(set(sys.modules) - before))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
