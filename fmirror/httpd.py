"""The API's HTTP server: one request a connection, answered HTTP/1.0, no TLS.

http.server would do, but it imports http.client, which imports ssl and the
email package: 6 MB resident in every daemon, for a server that never speaks
TLS. Requests are read with http.server's limits and malformed ones get its
status codes; the answer comes from a callable and the connection closes.
"""

import logging
import socket
import socketserver
import sys
import time
from http import HTTPStatus

log = logging.getLogger(__name__)

MAX_LINE = 65536        # http.server's limits, for the request line and for each header
MAX_HEADERS = 100
SERVER = f"fmirror Python/{sys.version.split()[0]}"   # what http.server said for fmirror
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class BadRequest(Exception):
    """A request http.server would have refused, with the status it would have sent."""

    def __init__(self, code: HTTPStatus, reason: str):
        super().__init__(reason)
        self.code = code


def parse_request_line(line: bytes) -> tuple[str, str]:
    """(method, target) of a request line; BadRequest when it is not HTTP/1.x."""
    if len(line) > MAX_LINE:
        raise BadRequest(HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long")
    text = line.decode("iso-8859-1").rstrip("\r\n")
    words = text.split()
    if len(words) != 3:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad request syntax ({text!r})")
    method, target, version = words
    numbers = version.removeprefix("HTTP/").split(".") if version.startswith("HTTP/") else []
    if len(numbers) != 2 or not all(n.isdigit() and len(n) <= 10 for n in numbers):
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad request version ({version!r})")
    if int(numbers[0]) >= 2:
        raise BadRequest(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"invalid HTTP version ({version})")
    return method, target


def http_date(when: float) -> str:
    """RFC 9110's date format, in English whatever the locale."""
    t = time.gmtime(when)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def response(code: int, headers: dict, body: bytes, when: float) -> bytes:
    """The bytes of an answer: status line, Server and Date, the given headers, the body."""
    lines = [f"HTTP/1.0 {code} {HTTPStatus(code).phrase}", f"Server: {SERVER}", f"Date: {http_date(when)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + body


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if not line.strip():
            return  # a client that said nothing is answered nothing, as http.server did
        method = ""
        try:
            method, target = parse_request_line(line)
            self._skip_headers()
            code, headers, body = self.server.answer(method, target)
        except BadRequest as e:
            code, body = e.code, f"{e}\n".encode()
            headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
        self.wfile.write(response(code, headers, b"" if method == "HEAD" else body, time.time()))
        # Load balancers probe every second or two: access lines are debug.
        log.debug('API %s: "%s" %d %d', self.client_address[0], line.decode("iso-8859-1").rstrip("\r\n"),
                  code, len(body))

    def _skip_headers(self):
        # Nothing in them changes an answer; they are read only to be within limits.
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "header line too long")
            if line in (b"\r\n", b"\n", b""):
                return
        raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"more than {MAX_HEADERS} headers")


class Server(socketserver.ThreadingTCPServer):
    """Serves answer(method, target) -> (code, headers, body), a thread for each connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], answer):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.answer = answer
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        # A client hanging up mid-answer is normal; the default prints a traceback to stderr.
        log.debug("API connection from %s failed", client_address, exc_info=True)
