"""Hardlink snapshots of the mirror on a slave: state_dir/snapshots/<UTC stamp>/<root path>/...

Each one is `rsync -a --link-dest=<previous snapshot>` of the mirrored paths:
a file unchanged since the previous snapshot is a hard link to it and costs
no space. It is copied with the receive lock held exclusively (pushes hold it
shared for their whole rsync run), so a snapshot is the tree between two
pushes, never one half-applied. It is built in a ".partial-" folder and
renamed when complete. Which snapshots to keep is a pure function with borg
prune's rules (keep_hourly, keep_daily, keep_weekly).
"""

import contextlib
import fcntl
import os
import shutil
import time

from fmirror import process, rsync, serve, stamps, state as state_mod
from fmirror.config.model import Config, Role
from fmirror.errors import Failed, Refused

# A snapshot waits this long for a running push (a full reconciliation can be long).
LOCK_WAIT = 600.0
PARTIAL = ".partial-"
RULES = (("hourly", "%Y-%m-%d %H"), ("daily", "%Y-%m-%d"), ("weekly", "%G-%V"))   # periods, in UTC
SCHEDULE_PERIOD = {"hourly": "%Y-%m-%d %H", "daily": "%Y-%m-%d"}


def folder(cfg: Config) -> str:
    return os.path.join(cfg.state_dir, "snapshots")


def existing(cfg: Config) -> list:
    """[(time, name)] of the complete snapshots, oldest first."""
    try:
        names = os.listdir(folder(cfg))
    except FileNotFoundError:
        return []
    return sorted((t, n) for n in names if (t := stamps.parse(n)) is not None)


def keep(times, hourly: int, daily: int, weekly: int) -> dict:
    """time -> why it is kept ("daily 2"), as borg prune decides.

    Per rule, newest first: the newest snapshot of each period (hour, day, ISO
    week) counts, until `n` are kept; one kept by an earlier rule is not
    counted again. A rule that finds fewer than n periods also keeps the
    oldest snapshot, so a young series does not lose its first one.
    """
    kept = {}
    ordered = sorted(times, reverse=True)
    for (rule, period), n in zip(RULES, (hourly, daily, weekly)):
        if n <= 0 or not ordered:
            continue
        last, count = None, 0
        for t in ordered:
            this = time.strftime(period, time.gmtime(t))
            if this == last:
                continue
            last = this
            if t not in kept:
                count += 1
                kept[t] = f"{rule} {count}"
                if count == n:
                    break
        else:
            if ordered[-1] not in kept:
                kept[ordered[-1]] = f"{rule} (oldest)"
    return kept


def due(schedule: str, latest: float | None, now: float) -> bool:
    """A scheduled snapshot is due when none was taken in the current hour (day) yet, in UTC."""
    period = SCHEDULE_PERIOD.get(schedule)
    if period is None:
        return False
    return latest is None or time.strftime(period, time.gmtime(latest)) != time.strftime(period, time.gmtime(now))


@contextlib.contextmanager
def _between_pushes(cfg: Config, timeout: float, cancel=None):
    """Hold the receive lock exclusively (the one serve.receive_lock shares with every push): no push runs."""
    fd = serve.open_receive_lock(cfg)
    try:
        if not serve.wait_exclusive(fd, timeout, cancel):
            if cancel is not None and cancel.is_set():
                raise process.Cancelled("snapshot")
            raise Failed(f"a push into this node still ran after {timeout:g} s: no snapshot taken")
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _one_at_a_time(cfg: Config):
    """The daemon's schedule and an operator's command never build (or prune) snapshots together."""
    os.makedirs(folder(cfg), mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(folder(cfg), ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create(cfg: Config, cancel=None) -> str:
    """Take a snapshot of every mirrored path; returns its name."""
    live = state_mod.load(cfg)
    if live.role is not Role.SLAVE:
        raise Refused(f"snapshots are taken on a slave, from the mirror; this node is {live.role.value}")
    with _one_at_a_time(cfg):
        base = folder(cfg)
        for name in os.listdir(base):
            if name.startswith(PARTIAL):   # left by a snapshot that was stopped
                shutil.rmtree(os.path.join(base, name))
        previous = existing(cfg)
        with _between_pushes(cfg, LOCK_WAIT, cancel):
            name = stamps.stamp(time.time())   # the moment the tree is frozen
            partial = os.path.join(base, PARTIAL + name)
            try:
                for root in cfg.paths:
                    inside = root.lstrip("/")
                    link = os.path.join(base, previous[-1][1], inside) if previous else None
                    os.makedirs(os.path.join(partial, inside), exist_ok=True)
                    process.run(rsync.snapshot_argv(root, os.path.join(partial, inside),
                                                    link if link and os.path.isdir(link) else None), cancel=cancel)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        os.rename(partial, os.path.join(base, name))
    return name


def prune(cfg: Config) -> list:
    """Remove the snapshots the retention settings do not keep; returns their names."""
    s = cfg.snapshots
    with _one_at_a_time(cfg):
        snaps = existing(cfg)
        kept = keep([t for t, _ in snaps], s.keep_hourly, s.keep_daily, s.keep_weekly)
        gone = [name for t, name in snaps if t not in kept]
        for name in gone:
            shutil.rmtree(os.path.join(folder(cfg), name))
    return gone


def list_lines(cfg: Config) -> list:
    """`fmirror snapshot list`: one line per snapshot, oldest first, with what retention says of it."""
    s = cfg.snapshots
    snaps = existing(cfg)
    kept = keep([t for t, _ in snaps], s.keep_hourly, s.keep_daily, s.keep_weekly)
    return [f"{stamps.show(t)}  {os.path.join(folder(cfg), name)}  "
            f"{'kept: ' + kept[t] if t in kept else 'pruned at the next prune'}" for t, name in snaps]
