"""rtnetlink address messages, read back field by field, and the kernel's answers to them."""

import socket

from fmirror import netlink


def test_add_message_carries_the_address_its_prefix_and_the_interface():
    msg = netlink.address_message(netlink.RTM_NEWADDR, "198.51.100.100/24", 7, 42)
    length, kind, flags, seq, port = netlink.NLMSG.unpack_from(msg)
    assert (length, kind, seq, port) == (len(msg), netlink.RTM_NEWADDR, 42, 0)
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_ACK | netlink.NLM_F_CREATE | netlink.NLM_F_EXCL
    family, prefix, _, scope, index = netlink.IFADDR.unpack_from(msg, netlink.NLMSG.size)
    assert (family, prefix, scope, index) == (socket.AF_INET, 24, netlink.RT_SCOPE_UNIVERSE, 7)
    attrs, offset = {}, netlink.NLMSG.size + netlink.IFADDR.size
    while offset < len(msg):
        size, kind = netlink.RTATTR.unpack_from(msg, offset)
        attrs[kind] = msg[offset + netlink.RTATTR.size:offset + size]
        offset += (size + 3) & ~3
    assert attrs == {netlink.IFA_LOCAL: bytes([198, 51, 100, 100]), netlink.IFA_ADDRESS: bytes([198, 51, 100, 100])}


def test_delete_message_neither_creates_nor_insists_on_exclusivity():
    msg = netlink.address_message(netlink.RTM_DELADDR, "2001:db8::5/64", 3, 1)
    _, kind, flags, _, _ = netlink.NLMSG.unpack_from(msg)
    assert (kind, flags) == (netlink.RTM_DELADDR, netlink.NLM_F_REQUEST | netlink.NLM_F_ACK)
    family, prefix, *_ = netlink.IFADDR.unpack_from(msg, netlink.NLMSG.size)
    assert (family, prefix) == (socket.AF_INET6, 64)


def answer(seq: int, code: int) -> bytes:
    body = netlink.ERROR.pack(-code) + netlink.NLMSG.pack(36, netlink.RTM_NEWADDR, 0, seq, 0)
    return netlink.NLMSG.pack(netlink.NLMSG.size + len(body), netlink.NLMSG_ERROR, 0, seq, 0) + body


def test_the_answer_to_our_request_gives_its_errno_and_nothing_else_counts():
    assert netlink.answer_errno(answer(5, 0), 5) == 0
    assert netlink.answer_errno(answer(5, 17), 5) == 17
    assert netlink.answer_errno(answer(4, 17), 5) is None            # another request's answer
    assert netlink.answer_errno(answer(4, 0) + answer(5, 99), 5) == 99
    assert netlink.answer_errno(answer(5, 0)[:10], 5) is None        # cut short
    assert netlink.answer_errno(bytes(16), 5) is None                # a length of 0 ends the reading
