"""Adding and removing an interface address over rtnetlink, as `ip addr add|del` does, without starting `ip`.

The floating IP is added on the way to the first client answer after a
takeover, and `ip` is a process: its start and exit took 2 to 13 ms in the
failover lab, where the kernel's own work takes microseconds. Messages are
built and read by pure functions; change() does the I/O.
"""

import errno
import ipaddress
import os
import socket
import struct

NLMSG = struct.Struct("=IHHII")    # nlmsghdr: length, type, flags, sequence number, port id
IFADDR = struct.Struct("=BBBBI")   # ifaddrmsg: family, prefix length, flags, scope, interface index
RTATTR = struct.Struct("=HH")      # rtattr: length, type
ERROR = struct.Struct("=i")        # the errno (negated) that opens an NLMSG_ERROR answer
NLMSG_ERROR = 2
RTM_NEWADDR, RTM_DELADDR = 20, 21
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL = 1, 2
RT_SCOPE_UNIVERSE = 0
ANSWER_TIMEOUT = 5.0   # s: the kernel answers at once; this only bounds a wedged netlink socket


def _attr(kind: int, data: bytes) -> bytes:
    length = RTATTR.size + len(data)
    return RTATTR.pack(length, kind) + data + bytes(-length % 4)


def address_message(kind: int, cidr: str, index: int, seq: int) -> bytes:
    """An RTM_NEWADDR or RTM_DELADDR request for cidr on interface index, asking for an answer."""
    iface = ipaddress.ip_interface(cidr)
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    ip = iface.ip.packed
    # Local and address both the address itself: what `ip addr add` sends when no peer is named.
    body = (IFADDR.pack(family, iface.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + _attr(IFA_LOCAL, ip) + _attr(IFA_ADDRESS, ip))
    flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if kind == RTM_NEWADDR else 0)
    return NLMSG.pack(NLMSG.size + len(body), kind, flags, seq, 0) + body


def answer_errno(reply: bytes, seq: int) -> int | None:
    """The errno the kernel answered request seq with (0: done), or None if reply holds no such answer."""
    offset = 0
    while offset + NLMSG.size <= len(reply):
        length, kind, _, msg_seq, _ = NLMSG.unpack_from(reply, offset)
        if length < NLMSG.size:
            return None
        if kind == NLMSG_ERROR and msg_seq == seq and length >= NLMSG.size + ERROR.size:
            return -ERROR.unpack_from(reply, offset + NLMSG.size)[0]
        offset += (length + 3) & ~3
    return None


def change(kind: int, cidr: str, iface: str) -> None:
    """Add (RTM_NEWADDR) or remove (RTM_DELADDR) cidr on iface; OSError with the kernel's errno if refused.

    Adding an address that is there already fails with EEXIST, removing one
    that is not with EADDRNOTAVAIL, as `ip` reports them; a missing interface with ENODEV.
    """
    try:
        index = socket.if_nametoindex(iface)
    except OSError:
        raise OSError(errno.ENODEV, f"no interface {iface}") from None
    seq = int.from_bytes(os.urandom(4), "little")
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.settimeout(ANSWER_TIMEOUT)
        s.bind((0, 0))
        s.send(address_message(kind, cidr, index, seq))
        while (code := answer_errno(s.recv(65536), seq)) is None:
            pass
    if code:
        raise OSError(code, os.strerror(code))
