"""The read-only HTTP API: /health /master /slave /status /metrics.

Load balancers and monitoring ask it questions; nothing on it changes
state (that goes through the control socket). Every answer is computed
from one call of the daemon's status callable, the same data as
`fmirror status --json`.
"""

import json
import logging
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from fmirror.config.model import Role
from fmirror.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from fmirror.serving import Serving

log = logging.getLogger(__name__)

# A slave whose oldest unacknowledged change is older than this is not "in
# sync" for /health. Pushes normally land within delay + one rsync (well
# under a second); 10 s leaves room for a large file without flapping.
DEFAULT_LAG_BOUND = 10.0

JSON = "application/json"
ROUTES = ("/health", "/master", "/slave", "/status", "/metrics")


# --- decisions (pure) ----------------------------------------------------------

def _slave_problem(s: dict, lag_bound: float) -> str | None:
    """Why this slave is not acknowledged and in sync, or None when it is."""
    brake = s.get("brake")
    if brake:
        return (f"deletion brake: {brake['deletes']} deletions under {brake['path']} paused; "
                "check the master, then run fmirror release-brake")
    if s.get("state") != "ok":
        return f"state {s.get('state')}"
    lag = s.get("lag")
    if lag is None:
        return "not acknowledged yet (full sync pending)"
    if lag > lag_bound:
        return f"lag {lag:.1f} s > {lag_bound:g} s"
    return None


def health(status: dict, lag_bound: float) -> tuple[bool, str]:
    """(healthy, reason): does this node fulfil its role right now?"""
    try:
        role = Role(status.get("role"))
    except ValueError:
        return False, f"unknown role {status.get('role')!r}"
    if role is Role.SUSPENDED:
        return False, "suspended: awaiting fmirror restore"
    if role is Role.SLAVE:
        monitor = status.get("monitor")
        if monitor is None:
            return False, "master state unknown: no monitor status"
        master = monitor.get("master")
        if master == "up":
            return True, "master up"
        return False, f"master {master or 'unknown'}"
    slaves = status.get("slaves")
    if slaves is None:
        return False, "replication not running"
    problems = [f"{name}: {p}" for name, s in slaves.items() if (p := _slave_problem(s, lag_bound))]
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(slaves)} slave(s) in sync"


def _role_check(status: dict, wanted: Role) -> tuple[bool, str]:
    role = status.get("role")
    return role == wanted.value, f"this node is {role}"


def _json(code: int, data) -> tuple[int, str, bytes]:
    return code, JSON, json.dumps(data).encode() + b"\n"


def _verdict(status: dict, ok: bool, reason: str) -> tuple[int, str, bytes]:
    code = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
    return _json(code, {"ok": ok, "role": status.get("role"), "reason": reason})


def answer(path: str, status: dict, metrics, lag_bound: float) -> tuple[int, str, bytes]:
    """(code, content type, body) for GET path (one of ROUTES), given one status snapshot."""
    if path == "/health":
        return _verdict(status, *health(status, lag_bound))
    if path == "/master":
        return _verdict(status, *_role_check(status, Role.MASTER))
    if path == "/slave":
        return _verdict(status, *_role_check(status, Role.SLAVE))
    if path == "/status":
        return _json(HTTPStatus.OK, status)
    metrics.update_from_status(status)
    return HTTPStatus.OK, METRICS_CONTENT_TYPE, metrics.render()


def parse_listen(listen: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" (as the config validated it) -> (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


# --- the server ------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server_version = "fmirror"

    def do_GET(self):
        self._serve(body=True)

    def do_HEAD(self):
        self._serve(body=False)

    def __getattr__(self, name):
        # http.server looks up do_<METHOD>; every method but GET and HEAD,
        # known or invented, gets 405 rather than the default 501.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self):
        code, ctype, body = _json(HTTPStatus.METHOD_NOT_ALLOWED, {"ok": False, "reason": "read-only API: GET only"})
        self._send(code, ctype, body, extra={"Allow": "GET, HEAD"})

    def _serve(self, body: bool):
        path = urlsplit(self.path).path
        if path not in ROUTES:
            code, ctype, data = _json(HTTPStatus.NOT_FOUND, {"ok": False, "reason": f"no such endpoint: {path}",
                                                              "endpoints": list(ROUTES)})
        else:
            app = self.server.app
            try:
                code, ctype, data = answer(path, app.status(), app.metrics, app.lag_bound)
            except Exception as e:  # a broken status must cost one answer, not the API
                log.exception("API %s failed", path)
                code, ctype, data = _json(HTTPStatus.INTERNAL_SERVER_ERROR,
                                          {"ok": False, "reason": f"status unavailable: {type(e).__name__}: {e}"})
        self._send(code, ctype, data if body else b"", length=len(data))

    def _send(self, code, ctype, body: bytes, length=None, extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        # Load balancers probe every second or two: access lines are debug.
        log.debug("API %s: %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client hanging up mid-answer is normal; the default prints a traceback to stderr.
        log.debug("API connection from %s failed", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class ApiServer:
    """Serves the API in a daemon thread from start() until close()."""

    def __init__(self, listen: str, status, metrics, lag_bound: float = DEFAULT_LAG_BOUND):
        self.listen = listen
        self.status = status            # callable -> the status dict
        self.metrics = metrics
        self.lag_bound = lag_bound
        self.server = None
        self.serving = None

    @property
    def port(self) -> int:
        """The bound port (useful when listen asked for port 0)."""
        return self.server.server_address[1]

    def start(self):
        host, port = parse_listen(self.listen)
        server_class = _Server6 if ":" in host else _Server
        self.server = server_class((host, port), _Handler)
        self.server.app = self
        self.serving = Serving(self.server, "api")
        log.info("API listening on %s (port %d)", self.listen, self.port)

    def close(self):
        if self.server is None:
            return
        self.serving.close()
        self.server = self.serving = None
