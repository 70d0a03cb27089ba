"""The local control channel between the CLI and the running daemon.

A Unix socket in state_dir (mode 0600: root only), one JSON request per
connection, one JSON answer. The HTTP API is read-only; anything that waits
for or changes the daemon goes through here.
"""

import json
import logging
import os
import socket
import socketserver

from fmirror.errors import DaemonNotRunning, Error, Failed
from fmirror.serving import Serving

log = logging.getLogger(__name__)

MAX_REQUEST = 1 << 20


def socket_path(state_dir: str) -> str:
    return os.path.join(state_dir, "control.sock")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            request = json.loads(self.rfile.readline(MAX_REQUEST))
            op = self.server.ops[request.pop("op")]
            answer = {"ok": True, "result": op(**request)}
        except Error as e:
            answer = {"ok": False, "error": str(e), "exit_code": e.exit_code}
        except Exception as e:  # a bad request must not take the daemon down
            log.exception("control request failed")
            answer = {"ok": False, "error": f"internal error: {e}", "exit_code": 1}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class UnixServer:
    """A threaded server on a Unix socket at path (mode 0600: root only) until close().

    attrs become attributes of the socketserver, for the handler to reach.
    """

    def __init__(self, path: str, handler, name: str, **attrs):
        self.path = path
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)  # left by a daemon that was killed
        old = os.umask(0o177)
        try:
            self.server = _Server(path, handler)
        finally:
            os.umask(old)
        for key, value in attrs.items():
            setattr(self.server, key, value)
        self.serving = Serving(self.server, name)

    def close(self):
        self.serving.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class ControlServer(UnixServer):
    """Serves ops (name -> callable(**args) returning JSON-able data) until close()."""

    def __init__(self, state_dir: str, ops: dict):
        super().__init__(socket_path(state_dir), _Handler, "control", ops=ops)


def call(state_dir: str, op: str, timeout: float = 10, **args):
    """Ask the running daemon; raises DaemonNotRunning when nobody answers."""
    path = socket_path(state_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonNotRunning(path) from None
        sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
        with sock.makefile("rb") as f:
            line = f.readline()
    except socket.timeout:
        raise Failed(f"the daemon did not answer {op!r} within {timeout:g} s") from None
    finally:
        sock.close()
    if not line:
        raise Failed(f"the daemon closed the connection during {op!r}")
    answer = json.loads(line)
    if not answer["ok"]:
        err = Failed(answer["error"])
        err.exit_code = answer.get("exit_code", 1)
        raise err
    return answer["result"]
