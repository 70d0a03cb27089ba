"""Probes of a peer: ICMP, HTTP, TCP. A round runs them in parallel and never outlasts its timeout.

A single lost packet must not fail a round: ICMP sends several echoes and
passes on any reply, HTTP and TCP make two attempts at once.
"""

import concurrent.futures
import encodings.idna  # noqa: F401  (socket encodes a host name with it: loaded here, not inside a first round)
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from fmirror import icmp as icmp_mod

ATTEMPTS = 2
PING_COUNT = 3
# A probe thread that overruns the round is given up on, not waited for. The
# slack is a tenth of the timeout (at most 50 ms): at interval = timeout = 0.1 s a
# fixed 50 ms would stretch every round by half, and detection with it.
ROUND_SLACK = 0.05
MAX_STATUS_LINE = 1024


def slack(timeout: float) -> float:
    return min(ROUND_SLACK, timeout / 10)


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    latency: float | None
    detail: str = ""


@dataclass(frozen=True)
class Task:
    """One probe of a round: run() -> (ok, detail).

    bounded: it gives up at its timeout by itself, with no name to resolve
    (ICMP to an IP address), so a round may run it in its own thread.
    """
    run: Callable[[], tuple]
    bounded: bool = False


def is_ip(address: str) -> bool:
    """An IP address rather than a host name: nothing to look up, so nothing that can hang."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
            return True
        except OSError:
            pass
    return False


def icmp_task(address: str, timeout: float) -> Task:
    return Task(lambda: icmp(address, timeout), bounded=is_ip(address))


def in_caller(tasks: dict) -> str | None:
    """The task a round runs in the calling thread: the first bounded one, if any.

    An idle slave's round is one ICMP probe every 0.5 s. Handed to the pool it
    woke a second thread and waited on a future: ~5 wake-ups a round where 2
    do (the round's own, the echo's), and each wake-up of an idle thread
    costs more than the probe.
    """
    return next((name for name, task in tasks.items() if task.bounded), None)


def check_name(check) -> str:
    return check.kind if check.port is None else f"{check.kind}:{check.port}"


def icmp_schedule(timeout: float) -> tuple:
    """(gap between echoes, wait after the last): PING_COUNT echoes over the first tenths, given up at the timeout.

    Not later: a failed round ends when its last probe gives up, and every
    millisecond past the timeout delays the verdict. A floor of 50 ms on the
    wait once made the ICMP probe outlast a 0.06 s timeout (0.07 s), and the
    round end at its deadline, 6 ms later than its HTTP probe.
    """
    gap = max(0.01, timeout / 10)
    return gap, max(gap, timeout - (PING_COUNT - 1) * gap)


def icmp(address: str, timeout: float) -> tuple:
    """Passes on the first echo reply (icmp_schedule)."""
    return icmp_mod.ping(address, PING_COUNT, *icmp_schedule(timeout))


def http(address: str, port: int, path: str, expect: int, timeout: float) -> tuple:
    """One GET on a connection of its own, given up at the timeout; only the status counts (no redirect followed).

    By hand, not a client library: a library's timeout is for each socket
    operation, so a server that trickles its answer kept a probe thread busy
    long past its round, and enough of them fill the pool the other checks
    run on. Nor does it cost an import: loaded by the first probe, requests
    (0.12-0.18 s) failed every round it overlapped at the fast setting, and a
    slave that had just started declared its live master down; http.client
    cost 45 ms and 0.38 ms of CPU a probe.
    """
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(_left(deadline))
            sock.sendall(http_request(address, port, path))
            status = http_status(_status_line(sock, deadline))
    except (OSError, ValueError) as e:
        return False, f"http: {type(e).__name__}"
    if status != expect:
        return False, f"http status {status}, expected {expect}"
    return True, ""


def http_request(address: str, port: int, path: str) -> bytes:
    host = f"[{address}]" if ":" in address else address
    if port != 80:
        host += f":{port}"
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fmirror-monitor\r\n"
            "Connection: close\r\n\r\n").encode("ascii")   # the config allows URL paths only


def http_status(line: bytes) -> int:
    """The status code of an HTTP/1.x status line, or ValueError."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ValueError("not an HTTP status line")
    return int(parts[1])


def _status_line(sock, deadline: float) -> bytes:
    """The answer's first line, every read within what is left of the deadline."""
    data = b""
    while b"\n" not in data:
        if len(data) > MAX_STATUS_LINE:
            raise ValueError("status line too long")
        sock.settimeout(_left(deadline))
        chunk = sock.recv(MAX_STATUS_LINE)
        if not chunk:
            raise ConnectionResetError("closed before a status line")
        data += chunk
    return data.split(b"\n", 1)[0]


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def tcp(address: str, port: int, timeout: float) -> tuple:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True, ""
    except OSError as e:
        return False, f"tcp {port}: {e.strerror or e}"


class Prober:
    """Runs rounds of probes on a shared thread pool."""

    def __init__(self, workers: int = 16):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)

    def background(self, fn, *args) -> concurrent.futures.Future:
        """fn(*args) on the pool, for a caller that collects the result later."""
        return self.pool.submit(fn, *args)

    def check_tasks(self, address: str, checks, timeout: float) -> dict:
        """name -> Task for each configured check."""
        tasks = {}
        for check in checks:
            name = check_name(check)
            if check.kind == "icmp":
                tasks[name] = icmp_task(address, timeout)
            elif check.kind == "tcp":
                tasks[name] = Task(self._any_of(lambda port=check.port: tcp(address, port, timeout)))
            elif check.kind == "http":
                tasks[name] = Task(self._any_of(
                    lambda c=check: http(address, c.port or 80, c.path, c.expect_status, timeout)))
        return tasks

    def _any_of(self, attempt):
        def run():
            futures = [self.pool.submit(attempt) for _ in range(ATTEMPTS)]
            details = []
            for f in concurrent.futures.as_completed(futures):
                ok, detail = f.result()
                if ok:
                    return True, ""
                details.append(detail)
            return False, details[0]
        return run

    def round(self, tasks: dict, timeout: float) -> dict:
        """Run every task (name -> Task) at once; name -> Probe. A task still running at the deadline failed.

        One bounded task runs in this thread (in_caller), the rest on the pool meanwhile.
        """
        start = time.monotonic()
        here = in_caller(tasks)
        futures = {self.pool.submit(self._timed, task.run, start): name
                   for name, task in tasks.items() if name != here}
        results = {}
        if here is not None:
            results[here] = Probe(here, *self._timed(tasks[here].run, start))
        left = start + timeout + slack(timeout) - time.monotonic()
        done, _ = concurrent.futures.wait(futures, timeout=max(0.0, left))
        for future, name in futures.items():
            if future in done:
                results[name] = Probe(name, *future.result())
            else:
                results[name] = Probe(name, False, None, f"no answer within {timeout:g} s")
        return {name: results[name] for name in tasks}   # in the configured order, as the log names them

    @staticmethod
    def _timed(fn, start) -> tuple:
        """(ok, latency, detail), in Probe's order."""
        try:
            ok, detail = fn()
        except Exception as e:  # a probe that breaks is a failed probe, not a dead monitor
            ok, detail = False, f"{type(e).__name__}: {e}"
        return ok, time.monotonic() - start, detail
