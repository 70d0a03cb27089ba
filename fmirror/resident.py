"""The daemon's side of the hand-over (handoff.py): pushes, renames and queries served by the running daemon.

`fmirror serve` passes the daemon its ssh session's stdio; the daemon serves
the request with the very code the forced command runs (serve.py), on a
channel over those descriptors (channel.handed), and says how it ended; or,
for a push or pull it admitted, has the forced command become rsync
(handoff.py), and waits for the end of it to unlist the receive.

It takes a request only when the full `fmirror serve` would have read the
same configuration: the same file, unchanged since the daemon read it, and
the same --node. Otherwise it answers "fallback" and the forced command
serves the request itself. Only root may connect (the socket is 0600 and
the peer's credentials are checked), as only root could run the full path.
"""

import logging
import os
import shlex
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass

from fmirror import channel as channel_mod, control, handoff, locations, serve, warm
from fmirror.config.model import Config
from fmirror.errors import Error, ExitCode

log = logging.getLogger(__name__)

MAX_REQUEST = 1 << 16


@dataclass(frozen=True)
class Loaded:
    """The daemon's configuration and where it came from."""
    cfg: Config
    stamp: tuple | None
    node: str | None       # the daemon's --node, if it was given one


@dataclass(frozen=True)
class Request:
    config: str
    node: str | None
    command: str

    @property
    def verb(self) -> str | None:
        try:
            words = shlex.split(self.command)
        except ValueError:
            return None
        return words[1] if len(words) > 1 else None


def decode(body: bytes) -> Request | None:
    """handoff.encode's fields (without the length), or None when they are not ours."""
    fields = body.split(b"\0", 3)
    if len(fields) != 4 or fields[0] != handoff.VERSION:
        return None
    return Request(os.fsdecode(fields[1]), os.fsdecode(fields[2]) or None, os.fsdecode(fields[3]))


def decline(request: Request, loaded: Loaded, stamp_now: tuple | None) -> str | None:
    """Why the full `fmirror serve` must serve this request, or None: the daemon takes it."""
    if request.verb not in handoff.HANDED:
        return f"{request.verb!r} requests are not served by the daemon"
    if request.node != loaded.node:
        return f"--node {request.node} where the daemon runs with --node {loaded.node}"
    if stamp_now is None or stamp_now != loaded.stamp:
        return f"{request.config} is not the file the daemon read, or changed since"
    return None


class Requester:
    """The forced command that handed a request over, on the other end of conn: our answer goes to it."""

    def __init__(self, conn: socket.socket):
        self.conn, self.answered = conn, False
        self.pid, self.uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                    struct.calcsize("3i")))

    def run(self, argv: list, fd: int | None) -> None:
        """Have it become argv, with fd (a receive's lock) passed along."""
        self.answered = True
        socket.send_fds(self.conn, [handoff.exec_answer(argv)], [] if fd is None else [fd])

    def wait(self) -> None:
        """Until the command it became ends: its copy of the socket then closes."""
        try:
            while self.conn.recv(64):
                pass
        except OSError:
            pass

    def exit(self, status: int) -> None:
        if not self.answered:
            self.answered = True
            self.conn.sendall(handoff.EXIT + b"%d\n" % status)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.owner.serve_one(self.request)


class ResidentServer:
    """Serves handed-over requests with current() -> Loaded until close(); daemon: see channel.Channel.daemon."""

    def __init__(self, current, daemon=None):
        self.current, self.daemon = current, daemon
        self.counts = {"served": 0, "declined": 0}
        self.parking = warm.Parking()   # pushes opened ahead, until their go (warm.py)
        self.lock = threading.Lock()
        self.server = control.UnixServer(locations.handoff_socket(current().cfg.path), _Handler, "resident",
                                         owner=self)

    def close(self):
        """No new requests. Receives already running go on: they are the forced commands' rsync, as on the full path."""
        self.server.close()

    def serve_one(self, conn: socket.socket):
        requester = Requester(conn)
        body, fds = _receive(conn)
        try:
            request = decode(body) if body is not None and len(fds) == 3 and requester.uid == os.geteuid() else None
            loaded = self.current()
            reason = ("not a hand-over request" if request is None
                      else decline(request, loaded, locations.config_stamp(request.config)))
            if reason is not None:
                log.debug("hand-over declined: %s", reason)
                self._count("declined")
                conn.sendall(handoff.FALLBACK + b"\n")
                return
            chan = channel_mod.handed(loaded.cfg, fds, requester, parking=self.parking, daemon=self.daemon)
            fds = ()            # the channel owns them now
            try:
                status = answer(loaded.cfg, request.command, chan)
            finally:
                channel_mod.close(chan)
            self._count("served")
            requester.exit(status)
        except OSError:
            pass                # the forced command is gone (its ssh session ended): nobody to tell
        finally:
            for fd in fds:
                os.close(fd)

    def status(self) -> dict:
        with self.lock:
            counts = dict(self.counts)
        return {**counts, "parked": self.parking.count()}

    def _count(self, what):
        with self.lock:
            self.counts[what] += 1


def _receive(conn) -> tuple:
    """(the request's body or None, the descriptors that came with it)."""
    fds, data = [], b""
    while True:
        try:
            chunk, more, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
        except OSError:
            return None, fds
        fds += more
        if not chunk:
            return None, fds
        data += chunk
        if len(data) >= 8:
            size = int(data[:8], 16) if all(c in b"0123456789abcdef" for c in data[:8]) else MAX_REQUEST + 1
            if size > MAX_REQUEST:
                return None, fds
            if len(data) >= 8 + size:
                return data[8:8 + size], fds


def start(current, daemon=None) -> ResidentServer | None:
    """The server, or None when this node cannot have one (not root): every request takes the full path."""
    try:
        return ResidentServer(current, daemon)
    except OSError as e:
        log.info("pushes are served by `fmirror serve` alone: no hand-over socket (%s)", e)
        return None


def answer(cfg, command, chan) -> int:
    """Serve one handed-over request on chan; its exit status. Never raises: the daemon goes on."""
    try:
        return serve.main(cfg, command, chan)
    except Error as e:
        chan.say(f"fmirror: {e}")
        return e.exit_code
    except ConnectionError:
        # The requester's ssh session ended before our answer: nobody is left to tell.
        log.debug("handed-over request: the requester went away")
        return ExitCode.FAILED
    except Exception as e:  # one bad request must not take the daemon down
        log.exception("handed-over request failed")
        chan.say(f"fmirror: internal error: {type(e).__name__}: {e}")
        return ExitCode.FAILED
