"""The floating service IP: add, remove, who holds it (DAD), gratuitous ARP.

Command lines come from pure functions and the real `ip` does the work; ARP
(duplicate address detection and the announcements) arp.py does without a process.
"""

import ipaddress
import logging
import threading

from fmirror import arp, process
from fmirror.config.model import Config
from fmirror.errors import CommandError, Failed

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


def add_argv(cidr: str, iface: str) -> list:
    return ["ip", "addr", "add", cidr, "dev", iface]


def del_argv(cidr: str, iface: str) -> list:
    return ["ip", "addr", "del", cidr, "dev", iface]


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
    # Added straight away, not after a look whether it is there: one process less
    # on the way to the first client answer. "File exists" means we had it already.
    result = process.run(add_argv(cfg.floating_ip.address, interface(cfg)), timeout=5, check=False)
    if result.returncode != 0:
        why = process.stderr_tail(result.stderr)
        if "File exists" not in why:
            raise CommandError(result.argv, result.returncode, why)
    _announce(cfg)
    _cancel_second_burst()
    _second_burst = threading.Timer(SECOND_BURST_AFTER, _announce_if_held, (cfg,))
    _second_burst.daemon = True
    _second_burst.start()


def release(cfg: Config) -> bool:
    """Remove the floating IP from this host; True if it was there."""
    _cancel_second_burst()
    if not holds(cfg):
        return False
    process.run(del_argv(cfg.floating_ip.address, interface(cfg)), timeout=5)
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
