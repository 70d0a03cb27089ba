"""The requests a peer sends through ssh to `fmirror serve`, and how refusals look.

sshd runs `fmirror serve` as the forced command whatever the client asked
for; what the client asked for arrives in SSH_ORIGINAL_COMMAND and is only
data to parse. Every request starts with the protocol tag so that a key
without the forced command set up fails loudly instead of running a shell.
"""

import base64
import binascii
import json
import re
import shlex
from dataclasses import dataclass

TAG = "fmirror/1"
# The requests a link carries (link.py, serve.serve_link): small ones, read or
# applied in place. Pushes and pulls need an rsync of their own.
LINKED = ("state", "rename", "changes", "go")
REFUSED_PREFIX = "fmirror serve: refused:"
_REFUSAL = re.compile(re.escape(REFUSED_PREFIX) + r" (?P<reason>.*?) \[role=(?P<role>\w+) epoch=(?P<epoch>\d+)\]")


@dataclass(frozen=True)
class Refusal:
    reason: str
    role: str     # the receiver's live role
    epoch: int    # the receiver's epoch: a higher one tells a master it was replaced


def request(verb: str, *args) -> list:
    """The words of a request; the ssh layer quotes them into one command string."""
    return [TAG, verb, *map(str, args)]


def push_rsync_path(epoch: int, node: str, ticket: str | None = None) -> str:
    """rsync's --rsync-path: rsync appends `--server ... . DEST` to it. ticket: a push opened ahead (warm.py)."""
    opened = ["--ticket", ticket] if ticket else []
    return shlex.join(request("push", "--epoch", epoch, "--from", node, *opened, "--"))


def pull_rsync_path(epoch: int, node: str) -> str:
    return shlex.join(request("pull", "--epoch", epoch, "--from", node, "--"))


def refusal_line(reason: str, role: str, epoch: int) -> str:
    return f"{REFUSED_PREFIX} {reason} [role={role} epoch={epoch}]"


def find_refusal(stderr: str):
    """The receiver's refusal in a command's stderr, or None."""
    m = _REFUSAL.search(stderr)
    if m is None:
        return None
    return Refusal(m["reason"], m["role"], int(m["epoch"]))


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


def link_request(words: list, input: bytes | None) -> bytes:
    """One request on a link: a JSON line with the request's words and its stdin."""
    return json.dumps({"words": [str(w) for w in words], "input": _b64(input)}).encode() + b"\n"


def read_link_request(line: bytes) -> tuple:
    """(command string, stdin bytes or None) of a link_request line; ValueError if it is not one."""
    try:
        data = json.loads(line)
        words, input = data["words"], _unb64(data["input"])
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise ValueError(f"not a link request: {e}") from None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ValueError("not a link request: words")
    return shlex.join(words), input


def link_answer(status: int, stdout: bytes, stderr: bytes) -> bytes:
    return json.dumps({"status": status, "stdout": _b64(stdout), "stderr": _b64(stderr)}).encode() + b"\n"


def read_link_answer(line: bytes) -> tuple:
    """(exit status, stdout, stderr) of a link_answer line; ValueError if it is not one."""
    try:
        data = json.loads(line)
        return int(data["status"]), _unb64(data["stdout"]) or b"", _unb64(data["stderr"]) or b""
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise ValueError(f"not a link answer: {e}") from None


# --- state queries -------------------------------------------------------------
#
# A state query answers the node's state and its daemon's unsent changes. The
# asker may send its own state the same way, as the query's input: a master
# that serves it over a link then knows the asker as well as if it had asked
# itself, and skips its own query of that peer (roles.MasterRunner). Older
# peers send no input, and ignore it.

ROLES = ("master", "slave", "suspended")


def state_answer(state, daemon_status: dict | None) -> dict:
    """The answer to a state query: state (state.State) and its daemon's status (None: not running)."""
    out = {"node": state.node, "role": state.role.value, "epoch": state.epoch, "role_since": state.role_since,
           "master": state.master}
    if daemon_status is None:
        out["daemon"] = {"running": False}
        return out
    slaves = daemon_status.get("slaves", {}).values()
    ages = [x["oldest_unsent_age"] for x in slaves if x["oldest_unsent_age"] is not None]
    out["daemon"] = {"running": True, "unsent": sum(x["unsent"] for x in slaves),
                     "oldest_unsent_age": max(ages, default=None)}
    return out


def peer_report(data: bytes | None, peers) -> dict | None:
    """The asker's own state_answer sent as a state query's input, or None when there is none or it is not one.

    peers: the names it may come from (this node's peers, never itself).
    """
    try:
        report = json.loads(data) if data else None
    except ValueError:
        return None
    if not (isinstance(report, dict) and report.get("node") in peers and report.get("role") in ROLES
            and type(report.get("epoch")) is int and report["epoch"] >= 0):
        return None
    return report
