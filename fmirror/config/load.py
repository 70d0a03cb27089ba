"""Read the YAML file, validate it, find this node, and build the model.

Nothing is started or touched: the only look at the outside world is
reading the file, the hostname, and stat() on the ssh key.
"""

import os
import shlex
import socket
import stat

import yaml

from fmirror.config.model import (
    Api, Check, Config, FailoverMode, FloatingIP, Hooks, Monitor, Node, Replication, Role,
    Snapshots, Transport,
)
from fmirror.config.validate import INVALID, show, validate
from fmirror.errors import ConfigError
from fmirror.locations import ENV_VAR, resolve_path


def _short_hostname() -> str:
    return socket.gethostname().split(".")[0]


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or " ".join(str(error).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"not valid YAML{where}: {problem}"


def _read(path: str):
    """The parsed YAML of path; ConfigError with one line if it cannot be had."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ConfigError([f"{path}: cannot read the configuration: {error.strerror} "
                           f"(choose another with -c PATH or ${ENV_VAR})"]) from None
    name = os.path.basename(path)
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as error:
        raise ConfigError([f"{name}: {_yaml_problem(error)}"]) from None
    if raw is None:
        raise ConfigError([f"{name}: the file is empty; it needs at least nodes: and paths:"])
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: the top level must be a mapping of keys "
                           f"like nodes: and paths:, got {show(raw)}"])
    return raw


def _merged(raw: dict, overrides: dict) -> dict:
    """raw with overrides laid over it, section by section."""
    out = dict(raw)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _this_node(tree: dict, node: str | None, hostname: str | None) -> tuple:
    """(this node's name, the problem line or None)."""
    if node:
        source = "from the command line"
    elif tree["node"] is INVALID:
        return INVALID, None
    elif tree["node"]:
        node, source = tree["node"], "from node:"
    else:
        node, source = hostname or _short_hostname(), "from the hostname; set node: to choose"
    nodes = tree["nodes"]
    # An empty or broken nodes: already has its own error.
    if nodes is INVALID or not nodes or node in nodes:
        return node, None
    return node, (f"node: this host is {show(node)} ({source}) "
                  f"but nodes has only {', '.join(nodes)}")


def _ssh_key_problems(tree: dict) -> list:
    transport = tree["transport"]
    path = INVALID if transport is INVALID else transport["ssh_key"]
    if path is INVALID:
        return []
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return [f"transport.ssh_key: {path} does not exist; create it with "
                f"ssh-keygen -t ed25519 -N '' -f {shlex.quote(path)}"]
    except OSError as error:
        return [f"transport.ssh_key: cannot check {path}: {error.strerror}"]
    if not stat.S_ISREG(st.st_mode):
        return [f"transport.ssh_key: {path} is not a file"]
    # ssh itself refuses such a key, so the daemon would fail at its first push.
    if st.st_mode & 0o077:
        return [f"transport.ssh_key: {path} is open to group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); ssh refuses it: chmod 600 {shlex.quote(path)}"]
    return []


def _check(entry: dict) -> Check:
    [(kind, settings)] = entry.items()
    return Check(kind, **settings)


def _build(path: str, node: str, tree: dict) -> Config:
    # The schema's key names are the dataclasses' field names.
    monitor, floating_ip = tree["monitor"], tree["floating_ip"]
    return Config(
        path=path,
        node=node,
        nodes={name: Node(name, entry["address"], Role(entry["role"]), entry["interface"])
               for name, entry in tree["nodes"].items()},
        paths=tree["paths"],
        exclude=tree["exclude"],
        transport=Transport(**tree["transport"]),
        replication=Replication(**tree["replication"]),
        monitor=Monitor(**{**monitor,
                           "checks": tuple(map(_check, monitor["checks"])),
                           "failover": FailoverMode(monitor["failover"])}),
        floating_ip=FloatingIP(**floating_ip) if floating_ip else None,
        hooks=Hooks(**tree["hooks"]),
        snapshots=Snapshots(**tree["snapshots"]),
        api=Api(**tree["api"]),
        state_dir=tree["state_dir"],
        log_level=tree["log_level"],
    )


def load_config(path: str | None = None, node: str | None = None, hostname: str | None = None,
                *, overrides: dict | None = None) -> Config:
    """The validated configuration, or ConfigError listing every problem.

    node overrides the file's `node:`; hostname (default: the short hostname)
    is the fallback when neither says. overrides is laid over the file's
    sections before validation, as if written there.
    """
    path = os.path.abspath(resolve_path(path))
    raw = _read(path)
    tree, problems = validate(_merged(raw, overrides or {}))
    this, problem = _this_node(tree, node, hostname)
    problems += [problem] if problem else []
    problems += _ssh_key_problems(tree)
    if problems:
        name = os.path.basename(path)
        raise ConfigError([f"{name}: {line}" for line in problems])
    return _build(path, this, tree)


def describe(config: Config) -> str:
    """A few lines for `fmirror check-config`: file, this node, peers, paths, failover."""
    me = config.me
    if config.floating_ip:
        interface = me.interface or config.floating_ip.interface
        failover = (f"{config.floating_ip.address} on {interface}, "
                    f"{config.monitor.failover.value}")
    else:
        failover = "none (no floating_ip: a pure mirror)"
    return "\n".join([
        f"file:     {config.path}",
        f"node:     {me.name} ({me.address}), initial role {me.role.value}",
        *(f"peer:     {p.name} ({p.address}), initial role {p.role.value}" for p in config.peers),
        *(f"path:     {p}" for p in config.paths),
        f"failover: {failover}",
    ])
