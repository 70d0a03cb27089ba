"""icmp.py: the echo request's bytes, which replies count, and a real echo on loopback."""

import os
import socket
import struct

import pytest

from fmirror import icmp, probes

LOOPBACK = socket.inet_pton(socket.AF_INET, "127.0.0.1")


def _ipv4_reply(ident: int, seq: int, token: bytes) -> bytes:
    header = bytes([0x45]) + bytes(19)            # a 20-byte IPv4 header: the raw socket delivers it
    body = struct.pack("!BBHHH", 0, 0, 0, ident, seq) + token
    return header + body


def test_the_checksum_is_rfc_1071s():
    assert icmp.checksum(struct.pack("!BBHHH", 8, 0, 0, 1, 1)) == 0xF7FD
    assert icmp.checksum(b"\x01") == 0xFEFF      # an odd byte is padded with a zero


def test_an_ipv4_echo_request_checks_out():
    packet = icmp.echo_request(socket.AF_INET, 0x1234, 2, b"tokentok")
    assert packet[0] == 8 and struct.unpack("!HH", packet[4:8]) == (0x1234, 2)
    assert icmp.checksum(packet) == 0              # a packet carrying its checksum sums to zero


def test_only_a_reply_to_this_probe_from_the_peer_counts():
    token = b"tokentok"
    good = _ipv4_reply(7, 0, token)
    assert icmp.ours(socket.AF_INET, good, "127.0.0.1", LOOPBACK, 7, token)
    assert not icmp.ours(socket.AF_INET, good, "127.0.0.2", LOOPBACK, 7, token)          # another host
    assert not icmp.ours(socket.AF_INET, good, "127.0.0.1", LOOPBACK, 8, token)          # another probe
    assert not icmp.ours(socket.AF_INET, _ipv4_reply(7, 0, b"other..."), "127.0.0.1", LOOPBACK, 7, token)
    request = bytes([0x45]) + bytes(19) + icmp.echo_request(socket.AF_INET, 7, 0, token)
    assert not icmp.ours(socket.AF_INET, request, "127.0.0.1", LOOPBACK, 7, token)      # our own echo, looped
    assert not icmp.ours(socket.AF_INET, good[:25], "127.0.0.1", LOOPBACK, 7, token)     # cut short


@pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root (CI runs as root)")
def test_loopback_answers_and_a_bad_name_is_one_line():
    assert icmp.ping("127.0.0.1", 3, 0.05, 1.0) == (True, "")
    ok, detail = icmp.ping("name.invalid", 3, 0.05, 1.0)
    assert not ok and detail.startswith("icmp: ") and "\n" not in detail


@pytest.mark.parametrize("timeout", [0.06, 0.1, 0.5, 2.0])
def test_the_icmp_probe_gives_up_at_its_timeout_not_after(timeout):
    # A failed round ends with its last probe: one that outlasts the timeout delays the verdict.
    gap, wait = probes.icmp_schedule(timeout)
    assert (probes.PING_COUNT - 1) * gap + wait == pytest.approx(timeout)
    assert 0 < gap and (probes.PING_COUNT - 1) * gap < timeout
