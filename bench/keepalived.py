"""keepalived from Debian on lab hosts, configured as its users do for one floating IP between two hosts.

Unicast VRRP (a bridge carries multicast too, but production setups across
switches and clouds use unicast, and it keeps the peer explicit), one
vrrp_instance, priorities 150/100, VRRP version 3: version 2 rounds an
advert_int below 1 s up to 1 s. Each host has its own config under its
private /run, and keepalived runs in the foreground, started and stopped by
PID like every other process in the lab.
"""

import re

from fmirror import process
from fmirror.lab import Lab
from fmirror.lab.cluster import FLOATING

CONF = "/run/keepalived.conf"
PIDFILE = "/run/keepalived.pid"
VRRP_PIDFILE = "/run/keepalived-vrrp.pid"
INSTANCE = "fmbench"
ROUTER_ID = 51
PRIORITY = {"master": 150, "slave": 100}
# keepalived logs "(fmbench) Entering MASTER STATE" at every transition to master.
BECAME_MASTER = re.compile(rf"\({INSTANCE}\) Entering MASTER STATE")


def config(name: str, address: str, peer: str, priority: int, advert_int: float) -> str:
    """keepalived.conf for one host: VRRP only, unicast to its peer, the floating IP on eth0."""
    state = "MASTER" if priority == max(PRIORITY.values()) else "BACKUP"
    return (f"global_defs {{\n"
            f"    router_id {name}\n"
            f"}}\n"
            f"vrrp_instance {INSTANCE} {{\n"
            f"    version 3\n"
            f"    state {state}\n"
            f"    interface eth0\n"
            f"    virtual_router_id {ROUTER_ID}\n"
            f"    priority {priority}\n"
            f"    advert_int {advert_int:g}\n"
            f"    unicast_src_ip {address}\n"
            f"    unicast_peer {{\n"
            f"        {peer}\n"
            f"    }}\n"
            f"    virtual_ipaddress {{\n"
            f"        {FLOATING}/24 dev eth0\n"
            f"    }}\n"
            f"}}\n")


def argv() -> list:
    # -n foreground (its PID is ours to stop), -l -D detailed log on stdout into the lab log,
    # -G not into the machine's syslog, -P VRRP only: no health-checker process to start.
    return ["keepalived", "-n", "-l", "-D", "-G", "-P", "-f", CONF, "-p", PIDFILE, "-r", VRRP_PIDFILE]


def start(lab: Lab, advert_int: float) -> dict:
    """keepalived on master and slave, each peering with the other; {host: Popen}."""
    procs = {}
    try:
        for name, peer in (("master", "slave"), ("slave", "master")):
            host = lab[name]
            host.path(CONF).write_text(config(name, host.address, lab[peer].address, PRIORITY[name], advert_int))
            procs[name] = host.spawn(argv(), lab.log_path(name, "keepalived"))
    except BaseException:
        stop(procs)
        raise
    return procs


def stop(procs: dict):
    """SIGTERM each by PID (keepalived then removes its VIP and stops its VRRP child), SIGKILL if it lingers."""
    for proc in procs.values():
        process.stop(proc)


def times_became_master(lab: Lab, host: str) -> int:
    """How often keepalived on host entered MASTER state, from its log."""
    path = lab.log_path(host, "keepalived")
    return len(BECAME_MASTER.findall(path.read_text(errors="replace"))) if path.exists() else 0

