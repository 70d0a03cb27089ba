"""rsync command lines (pure functions) and the one place its exit codes are read."""

import enum
import os
import re

from fmirror.config.model import Config
from fmirror.reach import Reach, ancestors

# 24: "some files vanished before they could be transferred" — they were
# deleted on the master meanwhile; the deletion is its own queued change.
OK_CODES = (0, 24)
# 25: a --max-delete limit stopped deletions: the brake asked for that (brake.py).
DELETE_LIMIT = 25
PARTIAL = 23
IO_TIMEOUT = 30
# Files still being written that one push leaves out by name (see left_out_options), and
# new directories it sends alone (batch_list): past this many of either its command line
# would grow long, and it sends them (recursively) as it always did.
MAX_LEFT_OUT = 100


class Outcome(enum.Enum):
    OK = "ok"
    RETRY = "retry"        # anything else: keep the paths queued, back off, try again
    REFUSED = "refused"    # the receiver said no (role or epoch): see protocol.find_refusal
    BLOCKED = "blocked"    # a --max-delete limit skipped a deletion that made way for something else: partial


def interpret(returncode: int, refused: bool, skipped: int = 0) -> Outcome:
    """skipped: the deletions a --max-delete limit skipped (skipped_deletions), which explain 25 and may explain 23."""
    if refused:
        return Outcome.REFUSED
    if skipped and returncode == DELETE_LIMIT:
        return Outcome.OK
    if skipped and returncode == PARTIAL:
        # e.g. a non-empty directory replaced by a file: its contents had to go first.
        return Outcome.BLOCKED
    return Outcome.OK if returncode in OK_CODES else Outcome.RETRY


def common_options(cfg: Config) -> list:
    # --modify-window=-1: compare mtimes to the nanosecond. By default the quick check
    # takes a same-size rewrite within the same second for unchanged, and never sends it.
    opts = ["-a", "--numeric-ids", f"--timeout={IO_TIMEOUT}", "--stats", "--modify-window=-1"]
    opts += [f"--exclude={p}" for p in cfg.exclude]
    if cfg.transport.bwlimit_kbps:
        opts.append(f"--bwlimit={cfg.transport.bwlimit_kbps}")
    if cfg.transport.compress:
        opts.append("--compress")
    return opts


def transport_options(rsh: str, rsync_path: str) -> list:
    return ["-e", rsh, f"--rsync-path={rsync_path}"]


def batch_argv(cfg: Config, rsh: str, rsync_path: str, root: str, dest: str, left_out=(), alone=()) -> list:
    """Push the paths listed NUL-separated on stdin (see files_from), deletions included.

    Listed paths that no longer exist here are deleted there
    (--delete-missing-args); listed directories are sent recursively with
    --delete inside them; their parents are only created, never pruned.
    left_out: files still being written, which the push leaves for later
    (changes.take): a listed directory that holds one does not send it.
    alone: listed directories it sends without what they hold (batch_list).
    """
    return (["rsync", *common_options(cfg), "-r", "--from0", "--files-from=-",
             "--delete-missing-args", "--delete", *left_out_options(left_out),
             *left_out_options(alone, "/*"), *transport_options(rsh, rsync_path), root.rstrip("/") + "/", dest])


def batch_list(rels: dict, is_dir) -> tuple:
    """(paths to list, directories to send alone) for a batch's {rel: Reach}; is_dir(rel) looks here now.

    A new directory (Reach.NEW_DIR) is not recursed into: what it holds comes
    as queued paths of its own, and what it holds now may still be being
    written. With a path under it listed, it is not listed itself: rsync makes
    it as that path's implied directory, attributes and all. Alone, it is
    listed and what it holds excluded; but only while it is a directory here,
    since an exclude also keeps rsync from deleting there, and a gone one
    must be deleted whole.
    """
    new = [rel for rel, reach in rels.items() if reach is Reach.NEW_DIR]
    if not new:
        return list(rels), []
    parents = ancestors(rels)
    implied = {rel for rel in new if rel in parents}
    alone = [rel for rel in new if rel not in implied and is_dir(rel)]
    if len(alone) > MAX_LEFT_OUT:
        alone = []
    return [rel for rel in rels if rel not in implied], alone


def left_out_options(rels, then: str = "") -> list:
    """Exclude rules for exactly these paths (then "/*": for what each holds), anchored at the root.

    None past MAX_LEFT_OUT. Without them a directory's push sent the files
    being written in it half written, and again once closed (a 50 MB file
    twice, the second time as a delta). An excluded name is also kept from
    deletion there: it exists here.
    """
    if len(rels) > MAX_LEFT_OUT:
        return []
    return [f"--exclude={literal_pattern(b'/' + rel, then)}" for rel in rels]


def literal_pattern(path: bytes, then: str = "") -> str:
    """A filter pattern that matches path itself, then `then` as a pattern.

    rsync reads backslashes as escapes only in patterns with a wildcard.
    """
    text = os.fsdecode(path)
    if any(c in text + then for c in "*?["):
        text = "".join("\\" + c if c in "*?[\\" else c for c in text)
    return text + then


def full_argv(cfg: Config, rsh: str, rsync_path: str, root: str, dest: str, progress=False, delete=True) -> list:
    """A full reconciliation of one root: the slave's tree made equal to ours (without delete: added to)."""
    extra = ["--info=progress2", "--no-inc-recursive"] if progress else []
    return (["rsync", *common_options(cfg), *(["--delete"] if delete else []), *extra,
             *transport_options(rsh, rsync_path), root.rstrip("/") + "/", dest])


def pull_argv(cfg: Config, rsh: str, rsync_path: str, source: str, root: str, dry_run=False,
              backup_dir: str | None = None) -> list:
    """Make the local root equal to a peer's (restore): itemized, optionally keeping what it replaces."""
    opts = ["--delete", "--out-format=%i %l %n"]
    if dry_run:
        opts.append("--dry-run")
    if backup_dir:
        # rsync itself moves every file it overwrites or deletes into the rescue folder:
        # nothing the master changed after a dry run can slip past the rescue.
        opts += ["--backup", f"--backup-dir={backup_dir}"]
    return ["rsync", *common_options(cfg), *opts, *transport_options(rsh, rsync_path), source, root.rstrip("/") + "/"]


_ESCAPE = re.compile(rb"\\#([0-7]{3})")


def parse_itemized(stdout: bytes) -> list:
    """[(code, length, rel)] from --out-format='%i %l %n' lines; rsync escapes odd bytes as \\#ooo."""
    out = []
    for line in stdout.split(b"\n"):
        parts = line.split(None, 2)
        if len(parts) != 3 or not (parts[0][:1] in b"<>ch.*" and len(parts[0]) >= 9):
            continue
        code, length, name = parts
        if not length.isdigit():
            continue
        rel = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), name).rstrip(b"/")
        out.append((code.decode(), int(length), rel))
    return out


def files_from(rels) -> bytes:
    """The --files-from list: "./" keeps names that start with "#", ";" or "-" literal."""
    return b"".join(b"./" + rel + b"\0" if rel else b".\0" for rel in rels)


def remote_dest(user: str, address: str, root: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{user}@{host}:{root.rstrip('/')}/"


_SENT = re.compile(rb"Total bytes sent: ([\d,]+)")


def bytes_sent(stdout: bytes) -> int:
    m = _SENT.search(stdout)
    return int(m.group(1).replace(b",", b"")) if m else 0


def with_options(argv: list, extra) -> list:
    """argv with more options before its source and destination."""
    return [*argv[:-2], *extra, *argv[-2:]] if extra else argv


_SKIPPED = re.compile(rb"Deletions stopped due to --max-delete limit \((\d+) skipped\)")


def skipped_deletions(output: bytes) -> int:
    """How many deletions a --max-delete limit skipped (rsync says so on stderr), 0 if none."""
    m = _SKIPPED.search(output)
    return int(m.group(1)) if m else 0


def snapshot_argv(root: str, dest: str, link_dest: str | None) -> list:
    """A local copy of root into dest; files unchanged since link_dest become hard links to it."""
    link = [f"--link-dest={link_dest}"] if link_dest else []
    return ["rsync", "-a", "--numeric-ids", *link, root.rstrip("/") + "/", dest.rstrip("/") + "/"]
