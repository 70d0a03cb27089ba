"""The node's durable state: live role, epoch, and per-slave acknowledged progress.

state.json is written atomically (temp file, fsync, rename, fsync of the
folder) and read defensively. Both the daemon and `fmirror serve` (run by
sshd) change it, so every read-modify-write holds an flock.
"""

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field

from fmirror.config.model import Config, Role
from fmirror.errors import StateError

FORMAT = 1
MARKER = "fmirror_state"


@dataclass
class PeerProgress:
    acked_at: float = 0.0      # when this slave last confirmed a push (wall clock)
    acked_epoch: int = 0
    acked_seq: int = 0         # every journal record up to this one is on that slave: the fork point


@dataclass
class State:
    node: str
    role: Role
    epoch: int
    role_since: float
    master: str | None = None                   # the master this node knows of (itself when master)
    reason: str = ""                            # why it took its role: status shows it
    promoted_seq: int = 0                       # the journal's sequence when this node last became master
    restore: dict | None = None                 # a restore under way: its rescue folders, the master it follows
    peers: dict = field(default_factory=dict)   # name -> PeerProgress

    def to_json(self) -> dict:
        return {
            MARKER: FORMAT,
            "node": self.node,
            "role": self.role.value,
            "epoch": self.epoch,
            "role_since": self.role_since,
            "master": self.master,
            "reason": self.reason,
            "promoted_seq": self.promoted_seq,
            "restore": self.restore,
            "peers": {name: asdict(p) for name, p in self.peers.items()},
        }


def state_path(state_dir: str) -> str:
    return os.path.join(state_dir, "state.json")


def initial(cfg: Config) -> State:
    """The state of a node that never ran: the config's initial role, epoch 1."""
    return State(node=cfg.node, role=cfg.me.role, epoch=1, role_since=time.time(),
                 master=cfg.initial_master.name, reason="initial role from the configuration")


def load(cfg: Config) -> State:
    """Read state.json, or the initial state when there is none yet."""
    path = state_path(cfg.state_dir)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return initial(cfg)
    except OSError as e:
        raise StateError(path, f"cannot read it: {e.strerror}", "check the permissions of state_dir") from None
    return parse(raw, path, cfg.node)


def parse(raw: bytes, path: str, node: str) -> State:
    way_out = (f"if this node holds no newer data than its peers, move it aside "
               f"(mv {path} {path}.bad) and the node starts from its configured initial role")
    try:
        data = json.loads(raw)
    except ValueError:
        raise StateError(path, "torn or not JSON", way_out) from None
    if not isinstance(data, dict) or data.get(MARKER) != FORMAT:
        raise StateError(path, f"not an fmirror state file of format {FORMAT}", way_out)
    if data.get("node") != node:
        raise StateError(path, f"belongs to node {data.get('node')!r}, not {node!r}", way_out)
    try:
        return State(
            node=data["node"],
            role=Role(data["role"]),
            epoch=int(data["epoch"]),
            role_since=float(data.get("role_since", 0.0)),
            master=data.get("master"),
            reason=str(data.get("reason", "")),
            promoted_seq=int(data.get("promoted_seq", 0)),
            restore=data.get("restore"),
            peers={name: PeerProgress(**p) for name, p in data.get("peers", {}).items()},
        )
    except (KeyError, ValueError, TypeError) as e:
        raise StateError(path, f"malformed ({e})", way_out) from None


def save(cfg: Config, state: State) -> None:
    os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
    write_atomic(state_path(cfg.state_dir), json.dumps(state.to_json(), indent=1).encode())


def write_atomic(path: str, data: bytes) -> None:
    """Write a file so that a crash leaves either the old or the new content, never a mix."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def locked(cfg: Config):
    """Hold the state lock: read-modify-write cycles of the daemon and of `serve` never interleave."""
    os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(cfg.state_dir, "state.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update(cfg: Config, change) -> State:
    """Apply change(state) under the lock and save the result; returns the new state."""
    with locked(cfg):
        state = load(cfg)
        change(state)
        save(cfg, state)
        return state
