"""The read-only HTTP API: /health /master /slave /status /metrics.

Load balancers and monitoring ask it questions; nothing on it changes
state (that goes through the control socket). Every answer is computed
from one call of the daemon's status callable, the same data as
`fmirror status --json`.
"""

import json
import logging
from http import HTTPStatus
from urllib.parse import urlsplit

from fmirror import httpd
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

def _headers(ctype: str, body: bytes, extra=None) -> dict:
    return {"Content-Type": ctype, "Content-Length": str(len(body)), "Cache-Control": "no-store", **(extra or {})}


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
        self.server = httpd.Server(parse_listen(self.listen), self.respond)
        self.serving = Serving(self.server, "api")
        log.info("API listening on %s (port %d)", self.listen, self.port)

    def respond(self, method: str, target: str) -> tuple[int, dict, bytes]:
        """(code, headers, body) for one request; HEAD gets the headers of GET."""
        if method not in ("GET", "HEAD"):
            code, ctype, body = _json(HTTPStatus.METHOD_NOT_ALLOWED, {"ok": False, "reason": "read-only API: GET only"})
            return code, _headers(ctype, body, {"Allow": "GET, HEAD"}), body
        path = urlsplit(target).path
        if path not in ROUTES:
            code, ctype, body = _json(HTTPStatus.NOT_FOUND, {"ok": False, "reason": f"no such endpoint: {path}",
                                                              "endpoints": list(ROUTES)})
        else:
            try:
                code, ctype, body = answer(path, self.status(), self.metrics, self.lag_bound)
            except Exception as e:  # a broken status must cost one answer, not the API
                log.exception("API %s failed", path)
                code, ctype, body = _json(HTTPStatus.INTERNAL_SERVER_ERROR,
                                          {"ok": False, "reason": f"status unavailable: {type(e).__name__}: {e}"})
        return code, _headers(ctype, body), body

    def close(self):
        if self.server is None:
            return
        self.serving.close()
        self.server = self.serving = None
