"""Snapshots on a real slave: consistent while pushes run, hard links for unchanged files, retention."""

import calendar
import hashlib
import os
import threading
import time

from fmirror import stamps
from fmirror.lab import trees
from fmirror.lab.wait import wait_until

CONVERGE = 60
SNAPSHOTS = "/var/lib/fmirror/snapshots"


def _body(i: int) -> bytes:
    """File i's content: 32 KB to 480 KB, so that pushes take a while and a torn copy would show."""
    return hashlib.sha256(str(i).encode()).digest() * 1024 * (i % 15 + 1)


class Writer(threading.Thread):
    """Writes f00000, f00001, ... in order, each whole before it appears (written as .swp, excluded, then renamed)."""

    def __init__(self, root):
        super().__init__()
        self.root, self.stopping, self.count = root, threading.Event(), 0

    def run(self):
        while not self.stopping.is_set():
            tmp = self.root / f"f{self.count:05d}.swp"
            tmp.write_bytes(_body(self.count))
            os.rename(tmp, self.root / f"f{self.count:05d}")
            self.count += 1
            time.sleep(0.005)


def _snapshots(mirror):
    base = mirror.slave.path(SNAPSHOTS)
    return sorted(n for n in os.listdir(base) if not n.startswith(".")) if base.exists() else []


def _prefix_length(tree) -> int:
    """How many files f00000.. the snapshot holds, asserting they are a contiguous prefix of complete files."""
    names = sorted(os.listdir(tree))
    assert names == [f"f{i:05d}" for i in range(len(names))], f"not a prefix of whole files: {names[-5:]}"
    for i, name in enumerate(names):
        assert (tree / name).read_bytes() == _body(i), f"{name} torn in {tree}"
    return len(names)


def test_snapshots_taken_while_writes_run_are_push_boundaries_and_share_unchanged_files(mirror_factory):
    mirror = mirror_factory().start()
    m, s = mirror.m(), mirror.s()
    writer = Writer(m)
    writer.start()
    taken = []
    try:
        wait_until(lambda: (s / "f00020").exists(), 30, "the first files on the slave")
        for _ in range(6):
            result = mirror.lab.fmirror("slave", "snapshot", "create")
            assert result.returncode == 0, result.stderr
            taken.append(result.stdout.decode().split()[1])
            count = writer.count
            wait_until(lambda: writer.count > count + 10, 10, "more files written")
    finally:
        writer.stopping.set()
        writer.join()
    trees.wait_equal(m, s, CONVERGE)
    assert _snapshots(mirror) == taken

    base = mirror.slave.path(SNAPSHOTS)
    lengths = [_prefix_length(base / name / "srv" / "www") for name in taken]
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0] > 20, lengths
    # An unchanged file is one inode in every snapshot: it costs no space.
    first = [(base / name / "srv" / "www" / "f00000").stat() for name in taken]
    assert len({st.st_ino for st in first}) == 1 and first[0].st_nlink == len(taken)
    # The other mirrored path is in each snapshot too, and the snapshots live outside the mirror.
    assert all((base / name / "srv" / "data").is_dir() for name in taken)
    assert trees.snapshot(m) == trees.snapshot(s)

    listing = mirror.lab.fmirror("slave", "snapshot", "list", check=True).stdout.decode().splitlines()
    assert [line.split()[1].rsplit("/", 1)[1] for line in listing] == taken
    refused = mirror.lab.fmirror("master", "snapshot", "create")
    assert refused.returncode == 3 and b"taken on a slave" in refused.stderr


def _at(text: str) -> str:
    return stamps.stamp(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M")))


def test_prune_keeps_what_the_retention_settings_say(mirror_factory):
    mirror = mirror_factory(snapshots={"keep_hourly": 1, "keep_daily": 2, "keep_weekly": 1}).start()
    m = mirror.m()
    base = mirror.slave.path(SNAPSHOTS)
    when = ["2025-03-01 08:00", "2025-03-02 08:00", "2025-03-08 08:00", "2025-03-09 08:00",
            "2025-03-10 11:10", "2025-03-10 12:10"]
    for i, text in enumerate(when):
        (m / f"file{i}").write_text(text)
        mirror.lab.fmirror("master", "wait", "--timeout", "30", check=True)
        name = mirror.lab.fmirror("slave", "snapshot", "create", check=True).stdout.decode().split()[1]
        os.rename(base / name, base / _at(text))     # as if taken then

    result = mirror.lab.fmirror("slave", "snapshot", "prune")
    assert result.returncode == 0, result.stderr
    # hourly 1: 03-10 12:10. daily 2: 03-09 and 03-08 (the day 03-10 has a kept one already). weekly 1:
    # 03-02, the newest of its ISO week (the weeks from Monday 03-10 and 03-03 have kept ones already).
    assert _snapshots(mirror) == [_at(t) for t in ("2025-03-02 08:00", "2025-03-08 08:00", "2025-03-09 08:00",
                                                    "2025-03-10 12:10")]
    # Pruning one snapshot leaves the files it shared with the others intact.
    kept = base / _at("2025-03-02 08:00") / "srv" / "www"
    assert sorted(os.listdir(kept)) == ["file0", "file1"] and (kept / "file0").read_text() == "2025-03-01 08:00"


def test_the_slave_daemon_takes_scheduled_snapshots(mirror_factory):
    mirror = mirror_factory(snapshots={"schedule": "hourly"})
    for root in (mirror.m(), mirror.s()):          # seeded: the slave has it before its daemon starts
        (root / "present").write_text("at start")
    mirror.start()
    [name] = wait_until(lambda: _snapshots(mirror), 30, "a scheduled snapshot")
    assert (mirror.slave.path(SNAPSHOTS) / name / "srv" / "www" / "present").read_text() == "at start"
    assert b"hourly snapshot" in mirror.lab.log_path("slave", "daemon").read_bytes()
