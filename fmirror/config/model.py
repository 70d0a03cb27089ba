"""The resolved configuration, as the rest of fmirror sees it.

Built only by fmirror.config.load (which validates against the schema);
everything else reads these frozen objects and never the raw YAML.
"""

import enum
from dataclasses import dataclass, field


class Role(enum.Enum):
    MASTER = "master"
    SLAVE = "slave"
    SUSPENDED = "suspended"


class FailoverMode(enum.Enum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


@dataclass(frozen=True)
class Node:
    name: str
    address: str          # an IP address (v4 or v6), or a host name
    role: Role            # the INITIAL role only; state.json keeps the live one
    interface: str | None  # overrides floating_ip.interface on this node


@dataclass(frozen=True)
class Transport:
    ssh_user: str = "root"
    ssh_key: str = "/etc/fmirror/id_ed25519"
    ssh_port: int = 22
    bwlimit_kbps: int = 0
    compress: bool = False


@dataclass(frozen=True)
class Replication:
    delay: float = 0.0
    max_batch: int = 10000
    full_sync_interval: float = 600
    keep_versions_days: float = 0
    max_delete: int = 0


@dataclass(frozen=True)
class Check:
    kind: str             # "icmp" | "http" | "tcp"
    port: int | None = None
    path: str = "/"
    expect_status: int = 200


@dataclass(frozen=True)
class Monitor:
    interval: float = 0.5
    timeout: float = 0.5
    fall: int = 3
    rise: int = 2
    checks: tuple = (Check("icmp"),)
    witness: str | None = None
    failover: FailoverMode = FailoverMode.AUTOMATIC


@dataclass(frozen=True)
class FloatingIP:
    address: str          # with prefix, e.g. "198.51.100.100/24"
    interface: str = "eth0"
    garp_count: int = 5


@dataclass(frozen=True)
class Hooks:
    promote: tuple = ()
    demote: tuple = ()
    notify: tuple = ()
    fence: tuple = ()


@dataclass(frozen=True)
class Snapshots:
    schedule: str = "off"  # off | hourly | daily
    keep_hourly: int = 24
    keep_daily: int = 7
    keep_weekly: int = 4


@dataclass(frozen=True)
class Api:
    listen: str = "127.0.0.1:8730"


@dataclass(frozen=True)
class Config:
    path: str                      # the file it came from, for messages
    node: str                      # this host's entry in nodes
    nodes: dict                    # name -> Node, in file order
    paths: tuple                   # absolute, normalised, no trailing slash
    exclude: tuple = ()
    transport: Transport = field(default_factory=Transport)
    replication: Replication = field(default_factory=Replication)
    monitor: Monitor = field(default_factory=Monitor)
    floating_ip: FloatingIP | None = None
    hooks: Hooks = field(default_factory=Hooks)
    snapshots: Snapshots = field(default_factory=Snapshots)
    api: Api = field(default_factory=Api)
    state_dir: str = "/var/lib/fmirror"
    log_level: str = "info"

    @property
    def me(self) -> Node:
        return self.nodes[self.node]

    @property
    def peers(self) -> list:
        return [n for name, n in self.nodes.items() if name != self.node]

    @property
    def initial_master(self) -> Node:
        return next(n for n in self.nodes.values() if n.role is Role.MASTER)
