"""ICMP echo on a raw socket: the monitor's ping, without a process per round.

The `ping` program cost the slave a process start (~5 ms of CPU) every
probe interval, most of an idle slave's CPU. The daemon runs as root, so
it sends the echoes itself: one raw socket per probe, replies matched by
source address, identifier and a random token.
"""

import itertools
import os
import select
import socket
import struct
import time

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTOCOL = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}
TOKEN = 8   # bytes of payload that only this probe's echoes carry back
# Raw sockets see every ICMP packet to this host: the identifier tells this
# process's concurrent probes apart (a witness and a master probed at once).
_idents = itertools.count(os.getpid() & 0xFFFF)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family, ident: int, seq: int, token: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:
        return header + token        # the kernel computes ICMPv6 checksums (they cover the IPv6 header)
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + token), ident, seq) + token


def echo_reply(family, packet: bytes) -> tuple | None:
    """(identifier, payload) of an echo reply, or None for any other packet."""
    if family == socket.AF_INET:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4:]   # IPv4 raw sockets deliver the IP header too
    if len(packet) < 8:
        return None
    kind, code, _, ident, _ = struct.unpack("!BBHHH", packet[:8])
    if kind != ECHO_REPLY[family] or code != 0:
        return None
    return ident, packet[8:]


def ping(address: str, count: int, gap: float, wait: float) -> tuple:
    """(True, "") on the first echo reply from address, count echoes sent gap s apart, wait s after the last.

    (False, why) when none came back in time or no echo could be sent.
    """
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(address, None, type=socket.SOCK_RAW)[0]
        sock = socket.socket(family, socket.SOCK_RAW, PROTOCOL[family])
    except (OSError, KeyError) as e:
        return False, f"icmp: {getattr(e, 'strerror', None) or e}"
    ident, token = next(_idents) & 0xFFFF, os.urandom(TOKEN)
    peer = socket.inet_pton(family, sockaddr[0])
    start = time.monotonic()
    deadline = start + (count - 1) * gap + wait
    sent = 0
    with sock:
        while True:
            now = time.monotonic()
            if sent < count and now >= start + sent * gap:
                try:
                    sock.sendto(echo_request(family, ident, sent, token), sockaddr)
                except OSError:
                    pass       # no route right now is one lost echo; the next may pass
                sent += 1
                continue
            until = deadline if sent >= count else min(deadline, start + sent * gap)
            if now >= deadline:
                return False, f"no echo reply in {now - start:.2f} s"
            if not select.select([sock], [], [], until - now)[0]:
                continue
            try:
                packet, source = sock.recvfrom(65535)
            except OSError:
                continue
            if ours(family, packet, source[0], peer, ident, token):
                return True, ""


def ours(family, packet: bytes, source: str, peer: bytes, ident: int, token: bytes) -> bool:
    """Whether a packet the raw socket read answers this probe's echoes."""
    return echo_reply(family, packet) == (ident, token) and socket.inet_pton(family, source) == peer
