"""ARP frames for duplicate address detection: what is sent, and which answers count."""

import ipaddress

from fmirror import arp

OURS = bytes.fromhex("020000000001")
THEIRS = bytes.fromhex("020000000002")
VIP = "198.51.100.100"


def arp_frame(kind: int, sha: bytes, spa: str, tpa: str, ethertype: int = arp.ETH_P_ARP) -> bytes:
    body = arp.ARP.pack(1, arp.ETH_P_IP, 6, 4, kind, sha, ipaddress.IPv4Address(spa).packed, bytes(6),
                        ipaddress.IPv4Address(tpa).packed)
    return arp.ETHER.pack(arp.BROADCAST, sha, ethertype) + body


def test_probe_asks_for_the_address_from_0_0_0_0_so_no_cache_learns_from_it():
    frame = arp.probe_frame(OURS, VIP)
    dst, src, kind = arp.ETHER.unpack_from(frame)
    _, _, _, _, op, sha, spa, tha, tpa = arp.ARP.unpack_from(frame, arp.ETHER.size)
    assert (dst, src, kind, op) == (arp.BROADCAST, OURS, arp.ETH_P_ARP, arp.ARP_REQUEST)
    assert (sha, spa, tha, tpa) == (OURS, bytes(4), bytes(6), ipaddress.IPv4Address(VIP).packed)


def test_a_reply_from_another_host_for_the_address_claims_it():
    assert arp.claims(arp_frame(arp.ARP_REPLY, THEIRS, VIP, "0.0.0.0"), OURS, VIP)
    # A holder that asks for someone else, using the address as its sender, holds it too.
    assert arp.claims(arp_frame(arp.ARP_REQUEST, THEIRS, VIP, "198.51.100.7"), OURS, VIP)


def test_our_own_frames_other_addresses_probes_and_junk_do_not():
    assert not arp.claims(arp.probe_frame(OURS, VIP), OURS, VIP)                      # our probe, looped
    assert not arp.claims(arp.probe_frame(THEIRS, VIP), OURS, VIP)                    # another prober
    assert not arp.claims(arp_frame(arp.ARP_REPLY, THEIRS, "198.51.100.7", VIP), OURS, VIP)
    assert not arp.claims(arp_frame(arp.ARP_REPLY, THEIRS, VIP, VIP, ethertype=arp.ETH_P_IP), OURS, VIP)
    assert not arp.claims(b"\x00" * 20, OURS, VIP)


def test_an_announcement_says_the_address_is_ours_to_every_host_and_dad_sees_it_as_held():
    frame = arp.announcement_frame(OURS, VIP)
    dst, src, kind = arp.ETHER.unpack_from(frame)
    _, _, _, _, op, sha, spa, tha, tpa = arp.ARP.unpack_from(frame, arp.ETHER.size)
    ip = ipaddress.IPv4Address(VIP).packed
    assert (dst, src, kind, op) == (arp.BROADCAST, OURS, arp.ETH_P_ARP, arp.ARP_REQUEST)
    assert (sha, spa, tha, tpa) == (OURS, ip, bytes(6), ip)
    # Another node's announcement means it holds the address; our own looped back does not.
    assert arp.claims(arp.announcement_frame(THEIRS, VIP), OURS, VIP)
    assert not arp.claims(frame, OURS, VIP)
