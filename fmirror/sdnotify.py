"""systemd's notify protocol (sd_notify(3)) without a dependency.

One datagram per message to the socket named by NOTIFY_SOCKET. Outside
systemd (a shell, the lab, tests) NOTIFY_SOCKET is unset and every call is
a no-op. Nothing here raises into the daemon: a lost notification costs at
worst a watchdog restart, a crash of the caller would cost more.
"""

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def socket_address(value: str | None) -> str | bytes | None:
    """NOTIFY_SOCKET -> an AF_UNIX address: a path, or "@name" -> abstract b"\\0name"."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_seconds(environ, pid: int) -> float | None:
    """How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.

    None when there is no watchdog, or it watches another process
    (WATCHDOG_PID, inherited by a child that is not the service).
    """
    watched = environ.get("WATCHDOG_PID")
    if watched and watched != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


def _one_line(text: str) -> str:
    # A newline would end the STATUS= assignment and start a bogus one.
    return " ".join(text.split("\n"))


class Notifier:
    def __init__(self, address: str | bytes | None, watchdog_interval: float | None = None, clock=time.monotonic):
        self.address = address
        self._interval = watchdog_interval
        self._clock = clock
        self._last_ping = None
        self._sock = None
        self._failed = False

    @classmethod
    def from_env(cls, environ=None) -> "Notifier":
        environ = os.environ if environ is None else environ
        return cls(socket_address(environ.get("NOTIFY_SOCKET")), watchdog_seconds(environ, os.getpid()))

    def listening(self) -> bool:
        """Whether anyone receives what is sent (systemd): without, STATUS= lines are not worth making."""
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WATCHDOG_USEC), or None without a watchdog."""
        return self._interval

    def ready(self, status_text: str) -> None:
        self._send(f"READY=1\nSTATUS={_one_line(status_text)}")

    def status(self, text: str) -> None:
        self._send(f"STATUS={_one_line(text)}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        """Ping the watchdog; cheap to call every loop cycle: sends at most once per interval."""
        if self._interval is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self._interval:
            return
        self._last_ping = now
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self.address is None:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.sendto(message.encode(), self.address)
        except OSError as e:
            # Once: a watchdog ping failing every cycle would flood the journal.
            if not self._failed:
                log.warning("cannot notify systemd at %r: %s (further failures not logged)", self.address, e)
                self._failed = True
