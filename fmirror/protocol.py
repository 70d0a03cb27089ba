"""The requests a peer sends through ssh to `fmirror serve`, and how refusals look.

sshd runs `fmirror serve` as the forced command whatever the client asked
for; what the client asked for arrives in SSH_ORIGINAL_COMMAND and is only
data to parse. Every request starts with the protocol tag so that a key
without the forced command set up fails loudly instead of running a shell.
"""

import re
import shlex
from dataclasses import dataclass

TAG = "fmirror/1"
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


def push_rsync_path(epoch: int, node: str) -> str:
    """rsync's --rsync-path: rsync appends `--server ... . DEST` to it."""
    return shlex.join(request("push", "--epoch", epoch, "--from", node, "--"))


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
