"""A lab client: polls http://ADDRESS/ every INTERVAL seconds, one line per answer.

    python -m fmirror.lab.client ADDRESS INTERVAL LOGFILE

Each line: wall-clock time the request began, then the first word of the
body (the answering host's name) or "-" when nothing answered. A request
begins every INTERVAL whether or not the ones before it have ended, so a
connection stuck on a host that went away does not blind the client for its
timeout: the first good answer after a failover is known to within INTERVAL.
Lines are written as answers end, so they are not in time order: read() sorts.
Used by failover tests, the demo and the benchmarks to see what a real client sees.
"""

import socket
import sys
import threading
import time

TIMEOUT = 1.0


def fetch(address: str) -> str:
    try:
        with socket.create_connection((address, 80), timeout=TIMEOUT) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return "-"
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200") and not head.startswith(b"HTTP/1.1 200"):
        return "-"
    words = body.split()
    return words[0].decode("ascii", "replace") if words else "-"


def main(argv) -> int:
    address, interval, path = argv[0], float(argv[1]), argv[2]
    lock = threading.Lock()

    def poll(log, start):
        line = f"{start:.3f} {fetch(address)}\n"
        with lock:
            log.write(line)

    with open(path, "a", buffering=1) as log:
        next_start = time.time()
        while True:
            threading.Thread(target=poll, args=(log, next_start), daemon=True).start()
            next_start += interval
            time.sleep(max(0.0, next_start - time.time()))


def read(path) -> list:
    """[(time, who)] from a client log."""
    out = []
    try:
        f = open(path)
    except FileNotFoundError:   # the client has not written its first line yet
        return out
    with f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out.append((float(parts[0]), parts[1]))
    return sorted(out)


def gap(answers, before: str, after: str):
    """(last answer from `before`, first answer from `after` following it), or None."""
    last = None
    for t, who in answers:
        if who == before:
            last = t
        elif who == after and last is not None:
            return last, t
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
