"""Every configuration key, once: its type, default, description, example, constraints.

The single source of truth: the validator walks this table, and the
documentation is rendered from it. Keys are dotted paths; `*` stands for a
name the user chooses (a node) and `[]` for each entry of a list. The key
names of a section are the field names of its dataclass in model.py.
"""

from dataclasses import dataclass


class _Required:
    """Marks a key the user must set: there is no sensible default."""

    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Key:
    type: str
    default: object
    description: str
    example: object
    min: float | None = None      # numbers: smallest value; lists: min=1 means non-empty
    max: float | None = None
    choices: tuple = ()


_PORT = {"min": 1, "max": 65535}

SCHEMA = {
    "node": Key(
        "string", None,
        "Which entry of nodes this host is; when absent, the host's short hostname.",
        "alpha"),
    "nodes": Key(
        "names", REQUIRED,
        "The hosts of the cluster, two or more, by name; the same list on every node.",
        {"alpha": {"address": "198.51.100.1", "role": "master"},
         "beta": {"address": "198.51.100.2", "role": "slave"}}),
    "nodes.*": Key(
        "mapping", REQUIRED,
        "One node: how to reach it and the role it starts in.",
        {"address": "198.51.100.2", "role": "slave", "interface": "ens3"}),
    "nodes.*.address": Key(
        "host", REQUIRED,
        "The node's own IP address or host name, used for ssh, probes and state queries.",
        "198.51.100.1"),
    "nodes.*.role": Key(
        "choice", REQUIRED,
        "The INITIAL role only (exactly one master); the live role is kept in state_dir.",
        "master", choices=("master", "slave")),
    "nodes.*.interface": Key(
        "interface", None,
        "The network interface for the floating IP on this node; overrides floating_ip.interface.",
        "ens3"),
    "paths": Key(
        "list", REQUIRED,
        "Directories mirrored, absolute and not nested in each other; the same paths on every node.",
        ["/srv/www", "/srv/data"], min=1),
    "paths[]": Key(
        "absolute path", REQUIRED,
        "One mirrored directory.",
        "/srv/www"),
    "exclude": Key(
        "list", [],
        "rsync-style patterns of files never mirrored, applied to events and to rsync alike.",
        ["*.swp", "*~", ".cache/"]),
    "exclude[]": Key(
        "string", REQUIRED,
        "One rsync-style pattern.",
        "*.swp"),
    "transport": Key(
        "mapping", {},
        "How changes travel: rsync over ssh.",
        {"ssh_user": "root", "ssh_key": "/etc/fmirror/id_ed25519"}),
    "transport.ssh_user": Key(
        "string", "root",
        "The user ssh logs in as on the peers.",
        "root"),
    "transport.ssh_key": Key(
        "absolute path", "/etc/fmirror/id_ed25519",
        "The private key ssh uses; it must exist and be readable by its owner only.",
        "/etc/fmirror/id_ed25519"),
    "transport.ssh_port": Key(
        "integer", 22,
        "The port of sshd on the peers.",
        22, **_PORT),
    "transport.bwlimit_kbps": Key(
        "integer", 0,
        "Bandwidth limit of each rsync run in KiB/s; 0 means unlimited.",
        0, min=0),
    "transport.compress": Key(
        "boolean", False,
        "Compress data in transit; worth it only on slow links.",
        False),
    "replication": Key(
        "mapping", {},
        "When and how much the master pushes.",
        {"delay": 0, "max_batch": 10000}),
    "replication.delay": Key(
        "number", 0,
        "Seconds a change waits before its push, to gather more into one rsync run; 0 pushes at once "
        "(what changes while a push runs goes in the next one together; a file still open for "
        "writing waits for its close, at most 1 s).",
        0, min=0),
    "replication.max_batch": Key(
        "integer", 10000,
        "Most paths pushed by one rsync run.",
        10000, min=1),
    "replication.full_sync_interval": Key(
        "number", 600,
        "Seconds between full reconciliations that repair drift; 0 means only at start.",
        600, min=0),
    "replication.keep_versions_days": Key(
        "number", 0,
        "On slaves, keep files that a push deletes or overwrites this many days; 0 keeps none.",
        0, min=0),
    "replication.max_delete": Key(
        "integer", 0,
        "More deletions than this on a slave, in one push or within a minute, are paused there and alerted "
        "until `fmirror release-brake`; 0 means no limit.",
        0, min=0),
    "monitor": Key(
        "mapping", {},
        "How a slave decides that the master is down.",
        {"interval": 0.5, "fall": 3}),
    # Not 0: a round every 0 seconds would be a busy loop.
    "monitor.interval": Key(
        "number", 0.5,
        "Seconds between probe rounds.",
        0.5, min=0.01),
    "monitor.timeout": Key(
        "number", 0.5,
        "Seconds each probe may take before it counts as failed.",
        0.5, min=0.01),
    "monitor.fall": Key(
        "integer", 3,
        "Consecutive failed rounds before the master is declared down.",
        3, min=1),
    "monitor.rise": Key(
        "integer", 2,
        "Consecutive good rounds before the master counts as up again.",
        2, min=1),
    "monitor.checks": Key(
        "list", [{"icmp": {}}],
        "Probes run each round against the current master's address; all must pass.",
        [{"icmp": {}}, {"http": {"port": 80, "path": "/", "expect_status": 200}},
         {"tcp": {"port": 443}}], min=1),
    "monitor.checks[]": Key(
        "one-of", REQUIRED,
        "One probe: icmp, http or tcp.",
        {"tcp": {"port": 443}}),
    "monitor.checks[].icmp": Key(
        "mapping", {},
        "Ping the master; takes no settings.",
        {}),
    "monitor.checks[].http": Key(
        "mapping", {},
        "Fetch a URL from the master and expect a status code.",
        {"port": 80, "path": "/", "expect_status": 200}),
    "monitor.checks[].http.port": Key(
        "integer", 80,
        "The HTTP port on the master.",
        80, **_PORT),
    "monitor.checks[].http.path": Key(
        "url path", "/",
        "The URL path requested.",
        "/health"),
    "monitor.checks[].http.expect_status": Key(
        "integer", 200,
        "The HTTP status code that means healthy.",
        200, min=100, max=599),
    "monitor.checks[].tcp": Key(
        "mapping", {},
        "Open a TCP connection to a port on the master.",
        {"port": 443}),
    "monitor.checks[].tcp.port": Key(
        "integer", REQUIRED,
        "The TCP port that must accept a connection.",
        443, **_PORT),
    "monitor.witness": Key(
        "host", None,
        "A third host: a slave promotes itself only while it reaches it, "
        "and a master that reaches neither slaves nor witness drops the IP.",
        "198.51.100.254"),
    "monitor.failover": Key(
        "choice", "automatic",
        "automatic: a slave promotes itself when the master is down; manual: it alerts and waits.",
        "automatic", choices=("automatic", "manual")),
    "floating_ip": Key(
        "mapping", None,
        "The service address that moves to the master; omit it for a pure mirror without failover.",
        {"address": "198.51.100.100/24", "interface": "eth0"}),
    "floating_ip.address": Key(
        "address/prefix", REQUIRED,
        "The floating address with its prefix length; a spare address, not a node's own.",
        "198.51.100.100/24"),
    "floating_ip.interface": Key(
        "interface", "eth0",
        "The network interface that carries it, unless a node sets its own.",
        "eth0"),
    "floating_ip.garp_count": Key(
        "integer", 5,
        "Gratuitous ARPs sent after taking the address, so clients forget the old MAC at once.",
        5, min=1),
    "hooks": Key(
        "mapping", {},
        "Commands run at state changes, as argv lists (never a shell); "
        "FMIRROR_* variables are in their environment.",
        {"promote": ["systemctl", "start", "apache2"]}),
    "hooks.promote": Key(
        "argv", [],
        "Run when this node becomes master, e.g. to start the service.",
        ["systemctl", "start", "apache2"]),
    "hooks.demote": Key(
        "argv", [],
        "Run when this node stops being master, e.g. to stop the service.",
        ["systemctl", "stop", "apache2"]),
    "hooks.notify": Key(
        "argv", [],
        "Run at every state change with the event name, role and epoch.",
        ["/usr/local/bin/fmirror-alert"]),
    "hooks.fence": Key(
        "argv", [],
        "Run before a forced failover to power off or isolate the old master.",
        ["/usr/local/bin/fence-alpha"]),
    "snapshots": Key(
        "mapping", {},
        "Hardlink snapshots of the mirror, taken on slaves only.",
        {"schedule": "hourly", "keep_hourly": 24}),
    "snapshots.schedule": Key(
        "choice", "off",
        "How often a slave takes a snapshot.",
        "hourly", choices=("off", "hourly", "daily")),
    "snapshots.keep_hourly": Key(
        "integer", 24,
        "Hourly snapshots kept.",
        24, min=0),
    "snapshots.keep_daily": Key(
        "integer", 7,
        "Daily snapshots kept.",
        7, min=0),
    "snapshots.keep_weekly": Key(
        "integer", 4,
        "Weekly snapshots kept.",
        4, min=0),
    "api": Key(
        "mapping", {},
        "The local HTTP API: /health /master /slave /status /metrics.",
        {"listen": "127.0.0.1:8730"}),
    "api.listen": Key(
        "host:port", "127.0.0.1:8730",
        "Address and port the API listens on.",
        "127.0.0.1:8730"),
    "state_dir": Key(
        "absolute path", "/var/lib/fmirror",
        "Where this node keeps its live role, epoch and send queue; never inside a mirrored path.",
        "/var/lib/fmirror"),
    "log_level": Key(
        "choice", "info",
        "The least severe messages logged.",
        "info", choices=("debug", "info", "warning", "error")),
}


def _bounds(key: Key) -> str:
    if key.min is not None and key.max is not None:
        return f" from {key.min:g} to {key.max:g}"
    if key.min is not None:
        return f" >= {key.min:g}"
    return ""


# One entry per type the validator knows. A "mapping" holds the fixed keys
# listed below it; "names" holds entries keyed by a name the user picks;
# "one-of" is a mapping with exactly one key, which says what kind of entry it is.
_EXPECTATIONS = {
    "string": lambda key: "a non-empty string",
    "integer": lambda key: "an integer" + _bounds(key),
    "number": lambda key: "a number" + _bounds(key),
    "boolean": lambda key: "true or false",
    "choice": lambda key: "one of " + ", ".join(key.choices),
    "host": lambda key: "an IP address or a host name",
    "address/prefix": lambda key: "an IP address with its prefix length, like 198.51.100.100/24",
    "host:port": lambda key: "host:port, like 127.0.0.1:8730",
    "absolute path": lambda key: "an absolute path",
    "url path": lambda key: "a URL path starting with /",
    "interface": lambda key: "a network interface name (at most 15 characters, no spaces, / or :)",
    "argv": lambda key: "a list of strings (argv)",
    "mapping": lambda key: "a mapping of keys",
    "names": lambda key: "a mapping of names to entries",
    "list": lambda key: "a non-empty list" if key.min else "a list",
    "one-of": lambda key: "a mapping with one key",
}


def expectation(key: Key) -> str:
    """What a valid value looks like, in words: "an integer >= 1"."""
    return _EXPECTATIONS[key.type](key)
