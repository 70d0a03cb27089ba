"""ARP on a raw packet socket: duplicate address detection (RFC 5227 probes) and gratuitous ARP (announcements).

`arping -D` does the same, but as a process it costs a start-up that a
loaded machine can stretch to tens of milliseconds, and its deadline counts
whole seconds, so a caller had to kill it on a timer that also counted the
start-up: a slow start could pass for silence. Here the wait for replies is
counted from the moment the probes left, and nothing is started. The
announcements, too, go out without starting `arping -U`.

Packets are built and read by pure functions; probe() and announce() do the I/O.
"""

import ipaddress
import select
import socket
import struct
import threading
import time

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
BROADCAST = b"\xff" * 6
ARP_REQUEST, ARP_REPLY = 1, 2
# Ethernet header, then the ARP body for IPv4 over Ethernet.
ETHER = struct.Struct("!6s6sH")
ARP = struct.Struct("!HHBBH6s4s6s4s")
PROBES = 3     # sent back to back: one lost frame must not pass for a free address


def probe_frame(mac: bytes, target: str) -> bytes:
    """An ARP probe for target: sender address 0.0.0.0, so no host's cache learns anything from it."""
    body = ARP.pack(1, ETH_P_IP, 6, 4, ARP_REQUEST, mac, bytes(4), bytes(6), ipaddress.IPv4Address(target).packed)
    return ETHER.pack(BROADCAST, mac, ETH_P_ARP) + body


def announcement_frame(mac: bytes, address: str) -> bytes:
    """A gratuitous ARP (an RFC 5227 announcement): sender and target both the address, so every host updates it."""
    ip = ipaddress.IPv4Address(address).packed
    body = ARP.pack(1, ETH_P_IP, 6, 4, ARP_REQUEST, mac, ip, bytes(6), ip)
    return ETHER.pack(BROADCAST, mac, ETH_P_ARP) + body


def claims(frame: bytes, mac: bytes, target: str) -> bool:
    """Whether frame shows another host using target: an ARP packet from another MAC whose sender is target."""
    if len(frame) < ETHER.size + ARP.size:
        return False
    _, _, kind = ETHER.unpack_from(frame)
    if kind != ETH_P_ARP:
        return False
    _, ptype, _, plen, _, sha, spa, _, _ = ARP.unpack_from(frame, ETHER.size)
    return ptype == ETH_P_IP and plen == 4 and sha != mac and spa == ipaddress.IPv4Address(target).packed


def mac_of(iface: str) -> bytes:
    with open(f"/sys/class/net/{iface}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def _bound(iface: str) -> socket.socket:
    """A packet socket receiving ARP on iface.

    Made with protocol 0 and bound after: one made with ETH_P_ARP already
    listens on every interface, and its bind to one must first wait for the
    kernel to stop that (an RCU grace period: 6 to 16 ms measured).
    """
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((iface, ETH_P_ARP))
    except BaseException:
        s.close()
        raise
    return s


# Announcements go out on one socket kept for the daemon's life: it was made
# with protocol 0, so it receives nothing, and closing a packet socket waits
# for an RCU grace period (8 to 16 ms measured) that would hold up the
# promotion after the first announcement.
_sender = None
_sender_lock = threading.Lock()


def _sending_socket() -> socket.socket:
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        return _sender


def announce(iface: str, address: str, count: int) -> None:
    """Send count announcements of address on iface, back to back. OSError when the interface cannot be used."""
    frame = announcement_frame(mac_of(iface), address)
    s = _sending_socket()
    for _ in range(count):
        s.sendto(frame, (iface, ETH_P_ARP))


def probe(iface: str, target: str, wait: float) -> bool:
    """True when another host answers for target within `wait` seconds of our probes going out.

    Raises OSError when the interface cannot be used (missing, down, no permission).
    """
    mac = mac_of(iface)
    with _bound(iface) as s:
        frame = probe_frame(mac, target)
        for _ in range(PROBES):
            s.send(frame)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([s], [], [], left)[0]:
                return False
            if claims(s.recv(2048), mac, target):
                return True
    return False
