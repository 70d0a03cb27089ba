"""The forced command's fast path: hand a request to the daemon already running here.

Starting the full `fmirror serve` (its imports, the configuration parsed and
validated) costs a push more than sending a small file. The daemon on this
node has all of that loaded: so `fmirror serve` first passes it the ssh
session's stdin, stdout and stderr over a Unix socket (SCM_RIGHTS) and exits
with the status the daemon reports (resident.py serves it). Whenever the
daemon cannot take the request — none running, the configuration edited
since it read it, a request it does not serve — the full `fmirror serve`
runs as before: this path only ever saves time.

This runs before every push, so it imports only `os`, `sys` (loaded at
start-up anyway) and C modules.
"""

import os
import sys
import _socket

from fmirror import locations

# The requests that only read or write this node's state and files: the
# daemon serves them itself. The others change its role, or are rare.
HANDED = ("push", "rename", "state", "pull", "changes", "link")
VERSION = b"1"
FALLBACK = b"fallback"
EXIT = b"exit "
# A daemon that takes the request but vanishes before it says how it went:
# a failure, so the sender retries (never a fallback: rsync may have started).
LOST = 1
_OPTIONS = {"-c": "config", "--config": "config", "--node": "node"}


def parse(argv: list, command: str | None) -> tuple | None:
    """(config path or None, node or None) when argv is `[-c PATH] [--node N] serve` and the command a HANDED one."""
    words = (command or "").split(None, 2)
    if len(words) < 2 or words[1] not in HANDED:
        return None
    found = {"config": None, "node": None}
    words = iter(argv)
    for word in words:
        if word == "serve":
            return (found["config"], found["node"]) if next(words, None) is None else None
        name, eq, value = word.partition("=")
        key = _OPTIONS.get(name)
        if key is None or (eq and name == "-c"):
            return None
        found[key] = value if eq else next(words, None)
        if not found[key]:
            return None
    return None


def encode(config: str, node: str | None, umask: int, command: str) -> bytes:
    """The request: NUL-separated fields after an 8-digit hex length (a stream may split it)."""
    body = b"\0".join([VERSION, os.fsencode(config), os.fsencode(node or ""), b"%d" % umask,
                       os.fsencode(command)])
    return b"%08x" % len(body) + body


def attempt(argv: list) -> int | None:
    """The exit status of the request the daemon served, or None: run the full `fmirror serve`."""
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    found = parse(argv, command)
    if found is None:
        return None
    config = os.path.abspath(locations.resolve_path(found[0]))
    umask = os.umask(0)
    os.umask(umask)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(locations.handoff_socket(config))
            fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
            sock.sendmsg([encode(config, found[1], umask, command)],
                         [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        except OSError:
            return None      # no daemon (or not ours to reach): nothing was handed over
        answer = b""
        while not answer.endswith(b"\n"):
            try:
                chunk = sock.recv(64)
            except OSError:
                chunk = b""
            if not chunk:
                return LOST
            answer += chunk
    finally:
        sock.close()
    answer = answer.strip()
    if answer == FALLBACK:
        return None
    if answer.startswith(EXIT) and answer[len(EXIT):].isdigit():
        return int(answer[len(EXIT):])
    return LOST
