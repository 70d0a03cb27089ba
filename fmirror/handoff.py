"""The forced command's fast path: hand a request to the daemon already running here.

Starting the full `fmirror serve` (its imports, the configuration parsed and
validated) costs a push more than sending a small file. The daemon on this
node has all of that loaded: so `fmirror serve` first passes it the ssh
session's stdin, stdout and stderr over a Unix socket (SCM_RIGHTS) and exits
with the status the daemon reports (resident.py serves it). Whenever the
daemon cannot take the request — none running, the configuration edited
since it read it, a request it does not serve — the full `fmirror serve`
runs as before: this path only ever saves time.

A push or pull the daemon admits ends in rsync, and this process becomes it
(the daemon's answer "exec", with the receive lock's descriptor): an rsync
the daemon started itself received 500 MB ~0.3 s slower than one sshd's
child execs, for reasons no measurement of the two processes showed (see
bench/findings.md). Our socket to the daemon stays open in rsync, so the
daemon sees when the receive ends.

This runs before every push, so it imports only `os`, `sys` (loaded at
start-up anyway) and C modules; and it execs rsync itself rather than
through process.py, whose imports would cost every push, from an argv list
as process.py does.
"""

import os
import sys
import _socket

from fmirror import locations

# The requests that only read or write this node's state and files: the
# daemon serves them itself. The others change its role, or are rare.
# rejoined only wakes a pusher, and a restore waits for its answer.
HANDED = ("push", "rename", "state", "pull", "changes", "link", "rejoined")
VERSION = b"2"
FALLBACK = b"fallback"
EXIT = b"exit "
EXEC = b"exec "
MAX_ANSWER = 1 << 16
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


def encode(config: str, node: str | None, command: str) -> bytes:
    """The request: NUL-separated fields after an 8-digit hex length (a stream may split it)."""
    body = b"\0".join([VERSION, os.fsencode(config), os.fsencode(node or ""), os.fsencode(command)])
    return b"%08x" % len(body) + body


def exec_answer(argv: list) -> bytes:
    """The answer that has the forced command become argv: its words NUL-separated after a hex length."""
    body = b"\0".join(os.fsencode(a) for a in argv)
    return EXEC + b"%08x" % len(body) + body


def complete(answer: bytes) -> bool:
    """Whether answer holds a whole answer (one line, or an exec answer's whole argv)."""
    if answer.startswith(EXEC):
        size = answer[len(EXEC):len(EXEC) + 8]
        try:
            return len(size) == 8 and len(answer) >= len(EXEC) + 8 + int(size, 16)
        except ValueError:
            return True      # not our daemon's: exec fails on it, and says so
    return answer.endswith(b"\n")


def attempt(argv: list) -> int | None:
    """The exit status of the request the daemon served, or None: run the full `fmirror serve`.

    When the daemon admitted rsync, this process becomes it and never returns.
    """
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    found = parse(argv, command)
    if found is None:
        return None
    config = os.path.abspath(locations.resolve_path(found[0]))
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(locations.handoff_socket(config))
            sock.sendmsg([encode(config, found[1], command)],
                         [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _ints((0, 1, 2)))])
        except OSError:
            return None      # no daemon (or not ours to reach): nothing was handed over
        return follow(sock)
    finally:
        sock.close()


def follow(sock) -> int | None:
    """Do as the daemon answers on sock: its exit status, None (fall back), or become its rsync."""
    answer, fds = read_answer(sock)
    if answer is None:
        return LOST
    if answer == FALLBACK + b"\n":
        return None
    if answer.startswith(EXEC):
        return _become(answer[len(EXEC) + 8:].split(b"\0"), fds, sock)
    status = answer.strip()[len(EXIT):]
    return int(status) if answer.startswith(EXIT) and status.isdigit() else LOST


def read_answer(sock) -> tuple:
    """(the daemon's whole answer or None if it went away first, the descriptors that came with it)."""
    answer, fds = b"", []
    while not complete(answer):
        try:
            chunk, ancillary, _, _ = sock.recvmsg(MAX_ANSWER, _socket.CMSG_SPACE(4))
        except OSError:
            chunk, ancillary = b"", []
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
        if not chunk or len(answer) > MAX_ANSWER:
            for fd in fds:
                os.close(fd)
            return None, []
        answer += chunk
    return answer, fds


def _become(argv: list, fds: list, sock) -> int:
    """Exec argv, the descriptors the daemon passed (a receive's lock) and our socket to it kept open in it."""
    for fd in (*fds, sock.fileno()):
        os.set_inheritable(fd, True)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, b"fmirror: cannot start %s: %s\n" % (argv[0], os.fsencode(e.strerror or "")))
        return 127


def _ints(fds) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
