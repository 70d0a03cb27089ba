"""Check a raw YAML tree against the schema: every problem at once, with its key path.

Pure: no files, no hostname. validate() returns the cleaned tree (defaults
filled in, paths normalised, lists as tuples) and the problems as lines
like `monitor.fall: must be an integer >= 1, got "three"`; load.py adds the
file name and builds the model.
"""

import ipaddress
import json
import math
import re

from fmirror.config.schema import REQUIRED, SCHEMA, Key, expectation
from fmirror.excludes import compile_excludes


class _Invalid:
    def __repr__(self):
        return "INVALID"


# Stands in for a value that failed its check, so the cross-key checks skip
# it instead of piling a second, confusing error on top of the first.
INVALID = _Invalid()


class Problem(Exception):
    """A value that does not fit its key; the message follows the key path."""


_SHOW_MAX = 60
_NAME = re.compile(r"\w+")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_INTERFACE = re.compile(r"[^\s/:]{1,15}")   # what the kernel's dev_valid_name() accepts
_URL_PATH = re.compile(r"/\S*")


def show(value) -> str:
    """A value as the user wrote it in YAML: strings in double quotes, null, true, [a, b]."""
    text = _plain(value)
    return text if len(text) <= _SHOW_MAX else text[:_SHOW_MAX - 3] + "..."


def _plain(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_plain, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_name(k)}: {_plain(v)}" for k, v in value.items()) + "}"
    return str(value)


def _name(key) -> str:
    return key if isinstance(key, str) else _plain(key)


def _join(path: str, key) -> str:
    return f"{path}.{_name(key)}" if path else _name(key)


def _children(parent: str) -> dict:
    """The fixed keys directly below a schema path: name -> schema path."""
    prefix = parent + "." if parent else ""
    return {p[len(prefix):]: p for p in SCHEMA
            if p.startswith(prefix) and _NAME.fullmatch(p[len(prefix):])}


_CHILDREN = {parent: _children(parent) for parent in ("", *SCHEMA)}


def _unknown(where: str, key, known) -> str:
    import difflib  # here: only a file with an unknown key needs it, never a running daemon's
    close = difflib.get_close_matches(_name(key), known, n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f"{where}: unknown key{hint}"


def _must(key: Key, value) -> Problem:
    return Problem(f"must be {expectation(key)}, got {show(value)}")


# Scalars: each takes the raw value and its Key, returns the clean value or
# raises Problem.

def _string(value, key):
    if not isinstance(value, str) or not value:
        raise _must(key, value)
    return value


def _within(value, key) -> bool:
    return (key.min is None or value >= key.min) and (key.max is None or value <= key.max)


def _integer(value, key):
    # bool is an int to Python but never to a user: `fall: true` is a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or not _within(value, key):
        raise _must(key, value)
    return value


def _number(value, key):
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not _within(value, key)):
        raise _must(key, value)
    return float(value)


def _boolean(value, key):
    if not isinstance(value, bool):
        raise _must(key, value)
    return value


def _choice(value, key):
    # YAML 1.1 reads a bare `off` as false; the user meant the word.
    if value is False and "off" in key.choices:
        return "off"
    if not isinstance(value, str) or value not in key.choices:
        raise _must(key, value)
    return value


def _ip_version(text: str) -> int | None:
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def _is_hostname(text: str) -> bool:
    labels = text.split(".")
    # An all-numeric last label is a mistyped IPv4 address, never a name.
    return (len(text) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit())


def _host(value, key):
    if not isinstance(value, str) or not (_ip_version(value) or _is_hostname(value)):
        raise _must(key, value)
    return value


def _address_prefix(value, key):
    # ip_interface() would take a bare address as a /32: the prefix must be said.
    if not isinstance(value, str) or "/" not in value:
        raise _must(key, value)
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise _must(key, value) from None


def _host_port(value, key):
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if host.startswith("[") and host.endswith("]"):
        host_ok = _ip_version(host[1:-1]) == 6
    else:
        host_ok = _ip_version(host) == 4 or _is_hostname(host)
    if not (host_ok and _PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        raise _must(key, value)
    return value


def _absolute_path(value, key):
    if not isinstance(value, str) or not value.startswith("/"):
        raise _must(key, value)
    parts = [part for part in value.split("/") if part not in ("", ".")]
    # Refused rather than resolved: /srv/www/../etc is a typo or a trap, and
    # rsync --delete on the wrong directory destroys data.
    if ".." in parts:
        raise Problem(f'must not contain ".." components, got {show(value)}')
    if not parts:
        raise Problem("must be a path below /, not / itself")
    return "/" + "/".join(parts)


def _url_path(value, key):
    if not isinstance(value, str) or not _URL_PATH.fullmatch(value):
        raise _must(key, value)
    return value


def _interface(value, key):
    if not isinstance(value, str) or not _INTERFACE.fullmatch(value):
        raise _must(key, value)
    return value


def _argv(value, key):
    if isinstance(value, str):
        raise Problem("must be a list of strings (argv), not a shell string")
    if not isinstance(value, list) or not all(isinstance(arg, str) for arg in value):
        raise _must(key, value)
    if value and not value[0]:
        raise Problem("the program (its first entry) must not be empty")
    return tuple(value)


_SCALARS = {
    "string": _string, "integer": _integer, "number": _number, "boolean": _boolean,
    "choice": _choice, "host": _host, "address/prefix": _address_prefix,
    "host:port": _host_port, "absolute path": _absolute_path, "url path": _url_path,
    "interface": _interface, "argv": _argv,
}


# Containers: each walks its entries, collecting their problems, and raises
# Problem only for its own shape.

def _fields(value: dict, spath: str, dpath: str, problems: list) -> dict:
    known = _CHILDREN[spath]
    out = {}
    for name, item in value.items():
        if name in known:
            out[name] = _walk(item, known[name], _join(dpath, name), problems)
        else:
            problems.append(_unknown(_join(dpath, name), name, known))
    for name, child in known.items():
        if name in value:
            continue
        if SCHEMA[child].default is REQUIRED:
            problems.append(f"{_join(dpath, name)}: missing (required)")
            out[name] = INVALID
        else:
            out[name] = _walk(SCHEMA[child].default, child, _join(dpath, name), problems)
    return out


def _mapping(value, spath, dpath, problems):
    if not isinstance(value, dict):
        raise _must(SCHEMA[spath], value)
    return _fields(value, spath, dpath, problems)


def _names(value, spath, dpath, problems):
    if not isinstance(value, dict):
        raise _must(SCHEMA[spath], value)
    out = {}
    for name, entry in value.items():
        # YAML reads yes, no, on, off and numbers as non-strings.
        if not isinstance(name, str) or not name:
            problems.append(f"{dpath}: names must be non-empty strings (quote them), got {show(name)}")
            continue
        out[name] = _walk(entry, spath + ".*", f"{dpath}.{name}", problems)
    return out


def _list(value, spath, dpath, problems):
    key = SCHEMA[spath]
    if not isinstance(value, list) or (key.min and not value):
        raise _must(key, value)
    return tuple(_walk(item, spath + "[]", f"{dpath}[{i}]", problems)
                 for i, item in enumerate(value))


def _one_of(value, spath, dpath, problems):
    known = _CHILDREN[spath]
    if not isinstance(value, dict) or len(value) != 1:
        raise Problem(f"must be a mapping with one key ({', '.join(known)}), "
                      f"like {show(SCHEMA[spath].example)}, got {show(value)}")
    [(name, body)] = value.items()
    if name not in known:
        problems.append(_unknown(_join(dpath, name), name, known))
        return INVALID
    return {name: _walk(body, known[name], _join(dpath, name), problems)}


_CONTAINERS = {"mapping": _mapping, "names": _names, "list": _list, "one-of": _one_of}


def _walk(value, spath: str, dpath: str, problems: list):
    """Check one value against the schema key at spath; dpath is where it sits in the file."""
    key = SCHEMA[spath]
    # A section header whose keys are all commented out reads as null.
    if value is None and key.type == "mapping" and key.default is not None:
        value = {}
    if value is None and key.default is None:
        return None
    try:
        if key.type in _CONTAINERS:
            return _CONTAINERS[key.type](value, spath, dpath, problems)
        return _SCALARS[key.type](value, key)
    except Problem as problem:
        problems.append(f"{dpath}: {problem}")
        return INVALID


# Cross-key checks, on the cleaned tree: what no single key can say alone.

def _node_problems(nodes) -> list:
    if nodes is INVALID:
        return []
    problems = []
    if len(nodes) < 2:
        problems.append(f"nodes: needs two or more nodes, got {len(nodes)}"
                        + (f" ({', '.join(nodes)})" if nodes else ""))
    entries = [e for e in nodes.values() if e is not INVALID]
    if len(entries) == len(nodes) and all(e["role"] is not INVALID for e in entries):
        masters = [name for name, e in nodes.items() if e["role"] == "master"]
        if len(masters) != 1:
            found = f"{len(masters)} ({', '.join(masters)})" if masters else "none"
            problems.append(f"nodes: exactly one node must have the initial role master, got {found}")
    seen = {}
    for name, entry in nodes.items():
        address = INVALID if entry is INVALID else entry["address"]
        if address is INVALID:
            continue
        if address.lower() in seen:
            problems.append(f"nodes.{name}.address: {address} is also the address of {seen[address.lower()]}")
        seen.setdefault(address.lower(), name)
    return problems


def _inside(inner: str, outer: str) -> bool:
    return inner.startswith(outer + "/")


def _path_problems(paths) -> list:
    if paths is INVALID:
        return []
    problems, kept = [], []
    for i, path in enumerate(paths):
        if path is INVALID:
            continue
        clash = next((j for j, other in kept if path == other or _inside(path, other)
                      or _inside(other, path)), None)
        if clash is None:
            kept.append((i, path))
        elif path == paths[clash]:
            problems.append(f"paths[{i}]: {show(path)} is listed twice (also paths[{clash}])")
        else:
            relation = "is inside" if _inside(path, paths[clash]) else "contains"
            problems.append(f"paths[{i}]: {show(path)} {relation} {show(paths[clash])} "
                            f"(paths[{clash}]); list only one of them")
    return problems


def _state_dir_problems(state_dir, paths) -> list:
    if state_dir is INVALID or paths is INVALID:
        return []
    overlap = next((path for path in paths if path is not INVALID and (
        path == state_dir or _inside(state_dir, path) or _inside(path, state_dir))), None)
    if overlap is None:
        return []
    # Mirrored state would hand one node's role and epoch to its peer.
    return [f"state_dir: {show(state_dir)} overlaps the mirrored path {show(overlap)}; "
            "a node's state must not be copied to its peers"]


def _floating_ip_problems(floating_ip, nodes) -> list:
    if floating_ip in (None, INVALID) or floating_ip["address"] is INVALID or nodes is INVALID:
        return []
    ip = ipaddress.ip_interface(floating_ip["address"]).ip
    owners = [name for name, e in nodes.items() if e is not INVALID and e["address"] is not INVALID
              and _ip_version(e["address"]) and ipaddress.ip_address(e["address"]) == ip]
    return [f"floating_ip.address: {ip} is the own address of node {name}; "
            "the floating IP must be a spare address" for name in owners]


def _exclude_problems(patterns) -> list:
    """Each pattern as the watcher and rsync will read it: one that cannot be, said now."""
    if patterns is INVALID:
        return []
    problems = []
    for i, pattern in enumerate(patterns):
        if pattern is INVALID:
            continue
        try:
            compile_excludes([pattern])
        except ValueError as e:
            problems.append(f"exclude[{i}]: {show(pattern)}: {e}")
    return problems


def validate(raw: dict) -> tuple:
    """Check the top-level mapping; return (cleaned tree, problem lines without the file name)."""
    problems = []
    tree = _fields(raw, "", "", problems)
    problems += _node_problems(tree["nodes"])
    problems += _path_problems(tree["paths"])
    problems += _state_dir_problems(tree["state_dir"], tree["paths"])
    problems += _floating_ip_problems(tree["floating_ip"], tree["nodes"])
    problems += _exclude_problems(tree["exclude"])
    return tree, problems
