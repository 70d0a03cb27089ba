"""The floating service IP: add, remove, who holds it (DAD), gratuitous ARP.

Adding and removing go over rtnetlink (netlink.py) and ARP (duplicate
address detection, the announcements) over a packet socket (arp.py): a
takeover starts no process on its way to the first client answer. Only the
look whether we hold it runs `ip`.
"""

import errno
import ipaddress
import logging
import threading

from fmirror import arp, netlink, process
from fmirror.config.model import Config
from fmirror.errors import Failed

log = logging.getLogger(__name__)

# ARP replies on a LAN come back within a millisecond: duplicate address
# detection that heard nothing this long after its probes left heard nobody.
# It scales with the probe timeout (a slow network is slow for ARP too) and
# stays within half of it, so that it ends before the monitor round it overlaps.
DAD_WAIT = 0.3
DAD_WAIT_FLOOR = 0.03
# A second burst of gratuitous ARPs this long after the first, for switches
# and hosts that missed it (keepalived does the same).
SECOND_BURST_AFTER = 3.0


def interface(cfg: Config) -> str:
    return cfg.me.interface or cfg.floating_ip.interface


def address(cfg: Config) -> str:
    return str(ipaddress.ip_interface(cfg.floating_ip.address).ip)


def show_argv(iface: str) -> list:
    return ["ip", "-o", "addr", "show", "dev", iface]


def holds(cfg: Config) -> bool:
    """Whether this host has the floating IP on its interface."""
    out = process.run(show_argv(interface(cfg)), timeout=5, check=False).text
    return f" {cfg.floating_ip.address} " in out or f" {cfg.floating_ip.address}\n" in out


def dad_wait(timeout: float) -> float:
    return min(DAD_WAIT, max(DAD_WAIT_FLOOR, timeout / 2))


def someone_answers(cfg: Config) -> bool:
    """Duplicate address detection: does another host answer ARP for the floating IP?"""
    try:
        return arp.probe(interface(cfg), address(cfg), dad_wait(cfg.monitor.timeout))
    except OSError as e:
        raise Failed(f"duplicate address detection on {interface(cfg)} failed: {e.strerror or e}") from None


# The second burst still to come: cancelled when the IP is let go, so a node
# that just stepped down never points clients back at itself.
_second_burst = None


def claim(cfg: Config) -> None:
    """Add the floating IP here and announce it with gratuitous ARPs (two bursts)."""
    global _second_burst
    # Added straight away, not after a look whether it is there: EEXIST means we had it already.
    _change(netlink.RTM_NEWADDR, cfg, ok=(errno.EEXIST,))
    _announce(cfg)
    _cancel_second_burst()
    _second_burst = threading.Timer(SECOND_BURST_AFTER, _announce_if_held, (cfg,))
    _second_burst.daemon = True
    _second_burst.start()


def release(cfg: Config) -> bool:
    """Remove the floating IP from this host; True if it was there."""
    _cancel_second_burst()
    # No such interface here: then nothing of ours answers for the address either.
    return _change(netlink.RTM_DELADDR, cfg, ok=(errno.EADDRNOTAVAIL, errno.ENODEV))


def _change(kind: int, cfg: Config, ok: tuple) -> bool:
    """Add or remove the floating IP; False when the kernel said it was so already (an errno in ok)."""
    try:
        netlink.change(kind, cfg.floating_ip.address, interface(cfg))
    except OSError as e:
        if e.errno in ok:
            return False
        verb = "adding" if kind == netlink.RTM_NEWADDR else "removing"
        raise Failed(f"{verb} the floating IP {cfg.floating_ip.address} on {interface(cfg)} failed: "
                     f"{e.strerror or e}") from None
    return True


def _cancel_second_burst():
    if _second_burst is not None:
        _second_burst.cancel()


def _announce_if_held(cfg: Config) -> None:
    if holds(cfg):
        _announce(cfg)


def _announce(cfg: Config) -> None:
    try:
        arp.announce(interface(cfg), address(cfg), cfg.floating_ip.garp_count)
    except (OSError, ValueError) as e:  # an announcement that failed is logged, never fatal
        log.warning("gratuitous ARP on %s failed: %s", interface(cfg), e)
