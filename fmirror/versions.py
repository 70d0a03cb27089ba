"""Kept versions on a slave: every file a push deletes or overwrites, dated, outside the mirrored tree.

The receiver decides, never the sender: when it admits a push, `fmirror
serve` adds rsync's --backup --backup-dir=state_dir/versions/<root>/<stamp>,
so rsync itself moves aside what the push replaces or deletes, with the same
relative path. A stamp folder holds what one push replaced; its name says
when. Prune removes the folders older than replication.keep_versions_days;
restore sends one version back to the master, from where it replicates like
any other change.
"""

import argparse
import os
import shutil
import stat
import time
from dataclasses import dataclass

from fmirror import protocol, ssh, stamps, state as state_mod
from fmirror.config.model import Config, Role
from fmirror.errors import Failed, Refused, UsageError

DAY = 86400.0
PUT_TIMEOUT = 600.0   # s: one file over ssh, however large
CHUNK = 1 << 20


@dataclass(frozen=True)
class Version:
    at: float        # when a push replaced or deleted it (the stamp folder's time)
    size: int
    path: bytes      # where it is kept


def area(cfg: Config) -> str:
    return os.path.join(cfg.state_dir, "versions")


def push_folder(cfg: Config, root: str, now: float) -> str:
    """Where one push into root keeps what it replaces."""
    return os.path.join(area(cfg), root.lstrip("/"), stamps.stamp(now))


def backup_options(cfg: Config, root: str, now: float) -> list:
    """The rsync server options that keep every file a push into root deletes or overwrites."""
    return ["--backup", f"--backup-dir={push_folder(cfg, root, now)}"]


def keep(cfg: Config, root: str, rel: str, path: bytes, now: float) -> None:
    """Keep a copy of a file a rename is about to replace (rsync keeps its own; a rename is ours)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        return  # a rename never replaces a non-empty directory: nothing is lost
    target = os.path.join(os.fsencode(push_folder(cfg, root, now)), os.fsencode(rel))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(path, target, follow_symlinks=False)


def locate(paths, path: str):
    """(root, rel) of an absolute path inside one of the mirrored paths, or None."""
    path = os.path.normpath(path)
    for root in paths:
        if path.startswith(root + "/"):
            return root, path[len(root) + 1:]
    return None


def _inside(cfg: Config, path: str):
    where = locate(cfg.paths, os.path.abspath(path))
    if where is None:
        raise UsageError(f"{path} is not inside a mirrored path ({', '.join(cfg.paths)})")
    return where


def _folders(cfg: Config, root: str):
    """[(time, folder)] of the stamp folders of root."""
    base = os.path.join(area(cfg), root.lstrip("/"))
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    return sorted((t, os.path.join(base, n)) for n in names if (t := stamps.parse(n)) is not None)


def versions_of(cfg: Config, root: str, rel: str) -> list:
    """The kept versions of root/rel, oldest first (regular files and symlinks)."""
    out = []
    for at, folder in _folders(cfg, root):
        kept = os.path.join(os.fsencode(folder), os.fsencode(rel))
        try:
            st = os.lstat(kept)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISDIR(st.st_mode):
            out.append(Version(at, st.st_size, kept))
    return out


def choose(versions: list, at: float | None = None) -> Version:
    """The newest version, or with `at` the content the file had then: the first one replaced at or after it."""
    if not versions:
        raise Failed("no kept version of this file")
    if at is None:
        return versions[-1]
    later = [v for v in versions if v.at >= at]
    if not later:
        raise Failed(f"no version was replaced at or after {stamps.show(at)}: the file as it was then "
                     f"is what the master has now (newest kept: {stamps.show(versions[-1].at)})")
    return later[0]


def expired(times, keep_days: float, now: float) -> list:
    """The folder times older than keep_days (pure: prune's decision)."""
    return [t for t in times if now - t > keep_days * DAY]


def prune(cfg: Config, now: float | None = None) -> int:
    """Remove the stamp folders older than keep_versions_days; returns how many went."""
    now = time.time() if now is None else now
    days = cfg.replication.keep_versions_days
    if not days:
        raise Refused("replication.keep_versions_days is 0: nothing says what is old; "
                      f"remove {area(cfg)} by hand if the versions are no longer wanted")
    removed = 0
    for root in cfg.paths:
        folders = dict(_folders(cfg, root))
        for t in expired(folders, days, now):
            shutil.rmtree(folders[t])
            removed += 1
    return removed


def list_lines(cfg: Config, path: str) -> list:
    """`fmirror versions list PATH`: one line per kept version, oldest first."""
    root, rel = _inside(cfg, path)
    found = versions_of(cfg, root, rel)
    if not found:
        raise Failed(f"no kept version of {path} under {area(cfg)}")
    return [f"{stamps.show(v.at)}  {v.size:>12} bytes  {os.fsdecode(v.path)}" for v in found]


def restore(cfg: Config, path: str, at: float | None = None) -> str:
    """Put a kept version back on the master (through its `fmirror serve`); it replicates back from there."""
    live = state_mod.load(cfg)
    if live.role is not Role.SLAVE:
        raise Refused(f"versions restore runs on a slave and writes to its master; this node is {live.role.value}")
    root, rel = _inside(cfg, path)
    version = choose(versions_of(cfg, root, rel), at)
    st = os.lstat(version.path)
    if not stat.S_ISREG(st.st_mode):
        raise Failed(f"the kept version {os.fsdecode(version.path)} is not a regular file: copy it by hand")
    # Read whole: process.run feeds stdin from bytes. A version is one file; memory is the bound.
    with open(version.path, "rb") as f:
        data = f.read()
    master = cfg.nodes.get(live.master) or cfg.initial_master
    words = protocol.request("put", "--epoch", live.epoch, "--from", cfg.node, "--mode", stat.S_IMODE(st.st_mode),
                             "--mtime-ns", st.st_mtime_ns, "--uid", st.st_uid, "--gid", st.st_gid,
                             "--", os.path.join(root, rel))
    ssh.call(cfg, master, words, input=data, timeout=PUT_TIMEOUT)
    return (f"put {os.path.join(root, rel)} back on {master.name} as it was before {stamps.show(version.at)} "
            f"({st.st_size} bytes); it replicates to the slaves like any change")


# --- the master's side of a restore (`fmirror serve` put) ----------------------------

def parse_put(args) -> argparse.Namespace:
    """The put request's arguments after --epoch/--from; ValueError when malformed."""
    p = argparse.ArgumentParser(prog="put", add_help=False, exit_on_error=False)
    for name in ("--mode", "--mtime-ns", "--uid", "--gid"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("path")
    try:
        ns = p.parse_args(args)
    except (argparse.ArgumentError, SystemExit):
        raise ValueError("malformed put request") from None
    if not 0 <= ns.mode <= 0o7777:
        raise ValueError(f"mode {ns.mode:o} out of range")
    return ns


def receive(target: bytes, stream, req) -> None:
    """Write stream to target atomically (temp file in the same folder, fsync, rename), with mode, owner, mtime."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, b".fmirror-put.%d" % os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            while chunk := stream.read(CHUNK):
                f.write(chunk)
            f.flush()
            os.fchown(f.fileno(), req.uid, req.gid)
            os.fchmod(f.fileno(), req.mode)
            os.fsync(f.fileno())
        os.utime(tmp, ns=(time.time_ns(), req.mtime_ns))
        os.rename(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
