"""The API's own HTTP server: request lines refused as http.server refused them, answers as it wrote them."""

import email.utils
import socket

import pytest

from fmirror import httpd
from fmirror.serving import Serving


@pytest.mark.parametrize("line,code", [
    (b"garbage\r\n", 400),
    (b"GET /\r\n", 400),                   # HTTP/0.9: no one speaks it any more
    (b"GET / FTP/1.0\r\n", 400),
    (b"GET / HTTP/1.x\r\n", 400),
    (b"GET / HTTP/2.0\r\n", 505),
    (b"GET /" + b"a" * httpd.MAX_LINE + b" HTTP/1.1\r\n", 414),
])
def test_malformed_request_lines_get_http_servers_codes(line, code):
    with pytest.raises(httpd.BadRequest) as refused:
        httpd.parse_request_line(line)
    assert refused.value.code == code


def test_a_request_line_gives_method_and_target():
    assert httpd.parse_request_line(b"HEAD /status?x=1 HTTP/1.1\r\n") == ("HEAD", "/status?x=1")


def test_dates_are_the_http_format_whatever_the_locale():
    for when in (0, 951782400.5, 1796157849):
        assert httpd.http_date(when) == email.utils.formatdate(when, usegmt=True)


def test_an_answer_is_a_status_line_server_date_headers_and_body():
    raw = httpd.response(404, {"Content-Length": "2"}, b"{}", 0)
    assert raw == (b"HTTP/1.0 404 Not Found\r\nServer: " + httpd.SERVER.encode()
                   + b"\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 2\r\n\r\n{}")


def _exchange(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as conn:
        conn.sendall(data)
        out = b""
        while chunk := conn.recv(65536):
            out += chunk
        return out


@pytest.fixture
def server():
    srv = httpd.Server(("127.0.0.1", 0), lambda method, target: (200, {"X-Target": target}, b"body"))
    serving = Serving(srv, "test-httpd")
    yield srv
    serving.close()


def test_head_gets_the_headers_without_the_body(server):
    assert _exchange(server, b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n").endswith(b"X-Target: /x\r\n\r\n")
    assert _exchange(server, b"GET /x HTTP/1.1\r\n\r\n").endswith(b"X-Target: /x\r\n\r\nbody")


def test_too_many_headers_is_431_and_silence_gets_no_answer(server):
    many = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (httpd.MAX_HEADERS + 1) + b"\r\n"
    assert _exchange(server, many).startswith(b"HTTP/1.0 431 ")
    assert _exchange(server, b"\r\n") == b""
