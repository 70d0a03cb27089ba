"""The watcher against real inotify on real directories, with a sink that records calls."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from fmirror.excludes import compile_excludes
from fmirror.reach import Reach, Written
from fmirror.watcher import Watcher

PATH, NEW_DIR, TREE = Reach.PATH, Reach.NEW_DIR, Reach.TREE

DRAIN = 10.0


class RecordingSink:
    def __init__(self):
        self._lock = threading.Lock()
        self.calls = []
        self.writing = []    # (rel, Written) of every changed(): whether a close is still to come

    def _record(self, *call):
        with self._lock:
            self.calls.append(call)

    def changed(self, root, rel, reach, written=Written.CLOSED):
        with self._lock:
            self.writing.append((rel, written))
        self._record("changed", root, rel, reach)

    def deleted(self, root, rel):
        self._record("deleted", root, rel)

    def renamed(self, root, old, new, is_dir):
        self._record("renamed", root, old, new, is_dir)

    def full_sync_needed(self, reason):
        self._record("full_sync_needed", reason)

    def caught_up(self):
        pass

    def take(self):
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    def full_syncs(self):
        with self._lock:
            return [call[1] for call in self.calls if call[0] == "full_sync_needed"]


class BlockingSink(RecordingSink):
    """Holds the watcher's thread in its first changed() call until released, while events pile up in the kernel."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def changed(self, root, rel, reach, written=Written.CLOSED):
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(60)
        super().changed(root, rel, reach, written)


@contextlib.contextmanager
def watching(roots, excludes=(), sink=None):
    matcher = compile_excludes(excludes)
    sink = sink or RecordingSink()
    watcher = Watcher([os.fsencode(r) for r in roots], lambda root, rel, is_dir: matcher(rel, is_dir), sink)
    watcher.start()
    try:
        yield watcher, sink
    finally:
        watcher.stop()


def settle(watcher, sink):
    """Everything done so far is in the sink; return it and start afresh."""
    assert watcher.drain(DRAIN)
    return sink.take()


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def covered(calls, rel, root=0):
    """rel is pushed: named itself, or inside a directory reported as a tree."""
    for call in calls:
        if call[0] == "changed" and call[1] == root:
            if call[2] == rel or (call[3] is TREE and (call[2] == b"" or rel.startswith(call[2] + b"/"))):
                return True
    return False


def kernel_watches():
    """Watches held by this process's inotify descriptors, as the kernel counts them."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    count += sum(line.startswith("inotify wd:") for line in f)
    return count


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "root"
    path.mkdir()
    return path


def test_file_create_modify_append_chmod_delete_are_each_reported(root):
    with watching([root]) as (watcher, sink):
        (root / "f").write_bytes(b"one")
        assert ("changed", 0, b"f", PATH) in settle(watcher, sink)
        with open(root / "f", "r+b") as f:
            f.write(b"two")
        assert ("changed", 0, b"f", PATH) in settle(watcher, sink)
        with open(root / "f", "ab") as f:
            f.write(b"three")
        assert ("changed", 0, b"f", PATH) in settle(watcher, sink)
        os.chmod(root / "f", 0o600)
        assert settle(watcher, sink) == [("changed", 0, b"f", PATH)]
        os.unlink(root / "f")
        assert settle(watcher, sink) == [("deleted", 0, b"f")]


def test_a_file_open_for_writing_is_reported_as_such_until_its_close(root, tmp_path):
    with watching([root]) as (watcher, sink):
        with open(root / "f", "wb") as f:
            f.write(b"one")
            f.flush()
            assert settle(watcher, sink) and sink.writing[-1] == (b"f", Written.OPEN)    # created, written, open
        settle(watcher, sink)
        assert sink.writing[-1] == (b"f", Written.CLOSED)                                 # closed
        os.symlink(tmp_path, root / "link")          # no close will come for these
        os.link(root / "f", root / "hard")
        settle(watcher, sink)
        assert sink.writing[-2:] == [(b"link", Written.CLOSED), (b"hard", Written.CLOSED)]


def test_files_written_right_after_mkdir_are_all_covered(root):
    with watching([root]) as (watcher, sink):
        written = []
        for i in range(30):
            deep = os.path.join(root, f"d{i}", "a", "b")
            os.makedirs(deep)
            for j in range(10):
                with open(os.path.join(deep, f"f{j}"), "wb") as f:
                    f.write(b"x")
                written.append(os.fsencode(f"d{i}/a/b/f{j}"))
        calls = settle(watcher, sink)
        assert [rel for rel in written if not covered(calls, rel)] == []
        # Named one by one, never as trees: their pushes need not recurse.
        assert [call for call in calls if call[0] == "changed" and call[3] is TREE] == []


def test_existing_tree_is_watched_at_start(root):
    os.makedirs(root / "a" / "b" / "c")
    with watching([root]) as (watcher, sink):
        (root / "a" / "b" / "c" / "f").write_bytes(b"x")
        assert ("changed", 0, b"a/b/c/f", PATH) in settle(watcher, sink)


def test_file_rename_is_one_renamed_call(root):
    (root / "old").write_bytes(b"x")
    with watching([root]) as (watcher, sink):
        os.rename(root / "old", root / "new")
        assert settle(watcher, sink) == [("renamed", 0, b"old", b"new", False)]


def test_directory_rename_is_one_call_and_later_events_use_the_new_path(root):
    os.makedirs(root / "big" / "sub")
    for i in range(1000):
        (root / "big" / f"f{i}").write_bytes(b"x")
    with watching([root]) as (watcher, sink):
        os.rename(root / "big", root / "moved")
        assert settle(watcher, sink) == [("renamed", 0, b"big", b"moved", True)]
        (root / "moved" / "f1").write_bytes(b"y")
        (root / "moved" / "sub" / "g").write_bytes(b"y")
        calls = settle(watcher, sink)
        assert ("changed", 0, b"moved/f1", PATH) in calls
        assert ("changed", 0, b"moved/sub/g", PATH) in calls
        assert not [call for call in calls if b"big" in call[2]]


def test_many_sibling_directories_renamed_and_deleted_keep_every_path_right(root):
    # Hundreds of siblings: the tree's hash table shifts entries on each unlink.
    for i in range(300):
        os.makedirs(root / f"d{i}" / "sub")
    with watching([root]) as (watcher, sink):
        watches = kernel_watches()
        for i in range(150):
            os.rename(root / f"d{i}", root / f"r{i}")
        for i in range(150, 200):
            shutil.rmtree(root / f"d{i}")
        settle(watcher, sink)
        assert kernel_watches() == watches - 100
        kept = [f"r{i}" for i in range(150)] + [f"d{i}" for i in range(200, 300)]
        for name in kept:
            (root / name / "sub" / "f").write_bytes(b"x")
        calls = settle(watcher, sink)
        assert {call[2] for call in calls if call[0] == "changed"} == {f"{name}/sub/f".encode() for name in kept}
        assert {call[0] for call in calls} == {"changed"}


def test_directory_moved_in_is_a_tree_change_and_is_watched(root, tmp_path):
    os.makedirs(tmp_path / "outside" / "sub")
    (tmp_path / "outside" / "sub" / "old").write_bytes(b"x")
    with watching([root]) as (watcher, sink):
        os.rename(tmp_path / "outside", root / "in")
        assert settle(watcher, sink) == [("changed", 0, b"in", TREE)]
        (root / "in" / "sub" / "new").write_bytes(b"y")
        assert ("changed", 0, b"in/sub/new", PATH) in settle(watcher, sink)


def test_directory_moved_out_is_deleted_and_no_longer_watched(root, tmp_path):
    os.makedirs(root / "out" / "sub")
    with watching([root]) as (watcher, sink):
        watches = kernel_watches()
        os.rename(root / "out", tmp_path / "gone")
        assert settle(watcher, sink) == [("deleted", 0, b"out")]
        assert kernel_watches() == watches - 2  # inotify would follow the inodes anywhere
        (tmp_path / "gone" / "f").write_bytes(b"x")
        (tmp_path / "gone" / "sub" / "g").write_bytes(b"x")
        assert settle(watcher, sink) == []


def test_move_between_roots_is_deleted_then_changed(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    os.makedirs(first / "d" / "sub")
    (first / "f").write_bytes(b"x")
    second.mkdir()
    with watching([first, second]) as (watcher, sink):
        os.rename(first / "f", second / "f")
        os.rename(first / "d", second / "d")
        assert settle(watcher, sink) == [
            ("deleted", 0, b"f"), ("changed", 1, b"f", PATH),
            ("deleted", 0, b"d"), ("changed", 1, b"d", TREE),
        ]
        (second / "d" / "sub" / "g").write_bytes(b"x")
        assert ("changed", 1, b"d/sub/g", PATH) in settle(watcher, sink)


def test_symlink_is_a_plain_change_and_never_followed(root, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(target, root / "old-link")
    with watching([root]) as (watcher, sink):
        os.symlink(target, root / "link")
        assert settle(watcher, sink) == [("changed", 0, b"link", PATH)]
        (target / "f").write_bytes(b"x")
        assert settle(watcher, sink) == []


def test_excluded_paths_are_dropped_and_renames_across_the_line_are_changes(root):
    os.makedirs(root / "cache")
    with watching([root], excludes=["*.swp", "cache/"]) as (watcher, sink):
        (root / "x.swp").write_bytes(b"x")
        (root / "cache" / "f").write_bytes(b"x")
        os.mkdir(root / "d.swp")
        (root / "d.swp" / "f").write_bytes(b"x")
        assert settle(watcher, sink) == []
        os.rename(root / "x.swp", root / "x.txt")
        assert settle(watcher, sink) == [("changed", 0, b"x.txt", PATH)]
        os.rename(root / "x.txt", root / "y.swp")
        assert settle(watcher, sink) == [("deleted", 0, b"x.txt")]
        os.rename(root / "cache", root / "kept")
        assert settle(watcher, sink) == [("changed", 0, b"kept", TREE)]
        (root / "kept" / "g").write_bytes(b"x")
        assert ("changed", 0, b"kept/g", PATH) in settle(watcher, sink)


def test_names_that_are_not_utf8_or_hold_newlines_pass_through(root):
    odd_dir, odd_file = b"d\xff\n", b"caf\xe9\nline"
    with watching([root]) as (watcher, sink):
        os.mkdir(os.path.join(os.fsencode(root), odd_dir))
        with open(os.path.join(os.fsencode(root), odd_dir, odd_file), "wb") as f:
            f.write(b"x")
        assert covered(settle(watcher, sink), odd_dir + b"/" + odd_file)
        os.rename(os.path.join(os.fsencode(root), odd_dir), os.path.join(os.fsencode(root), b"\xfe"))
        assert settle(watcher, sink) == [("renamed", 0, odd_dir, b"\xfe", True)]


def test_drain_covers_every_write_that_returned_before_it(root):
    with watching([root]) as (watcher, sink):
        for i in range(50):
            (root / f"f{i}").write_bytes(b"x")
            assert watcher.drain(DRAIN)
            assert ("changed", 0, os.fsencode(f"f{i}"), PATH) in sink.calls


def hold(root, sink):
    """Hold the watcher's thread, so that what the test does next is read only after sink.release."""
    (root / "hold").write_bytes(b"x")
    assert sink.entered.wait(DRAIN)


def test_directory_created_just_before_its_parent_was_renamed_is_watched(root):
    (root / "p").mkdir()
    with watching([root], sink=BlockingSink()) as (watcher, sink):
        hold(root, sink)
        # When IN_CREATE "p/new" is read, nothing exists under that path any more.
        (root / "p" / "new").mkdir()
        os.rename(root / "p", root / "q")
        sink.release.set()
        settle(watcher, sink)
        (root / "q" / "new" / "f").write_bytes(b"x")
        assert ("changed", 0, b"q/new/f", PATH) in settle(watcher, sink)


def test_a_created_directory_is_reported_with_each_thing_its_walk_found(root):
    with watching([root], sink=BlockingSink()) as (watcher, sink):
        hold(root, sink)
        # All made before the watcher reads the IN_CREATE of "new": only its walk sees them.
        (root / "new" / "sub").mkdir(parents=True)
        (root / "new" / "f").write_bytes(b"closed already")
        (root / "new" / "sub" / "g").write_bytes(b"x")
        os.symlink("f", root / "new" / "link")
        sink.release.set()
        calls = [call for call in settle(watcher, sink) if call[2] != b"hold"]
        assert set(calls) == {("changed", 0, b"new", NEW_DIR), ("changed", 0, b"new/sub", NEW_DIR),
                              ("changed", 0, b"new/f", PATH), ("changed", 0, b"new/sub/g", PATH),
                              ("changed", 0, b"new/link", PATH)}
        # Whether a writer still has them open is unknown; a symlink is never written to.
        found = dict(sink.writing)
        assert (found[b"new/f"], found[b"new/sub/g"], found[b"new/link"]) == (
            Written.FOUND, Written.FOUND, Written.CLOSED)


def test_what_a_walk_saw_is_not_undone_by_older_events(root):
    (root / "a" / "sub").mkdir(parents=True)
    with watching([root], sink=BlockingSink()) as (watcher, sink):
        hold(root, sink)
        # The walk of the new "p" finds a/ in it, holding "sub2" and a new "sub":
        # the older rename of sub to sub2, read after that walk, must not move the new "sub".
        (root / "p").mkdir()
        os.rename(root / "a", root / "p" / "a")
        os.rename(root / "p" / "a" / "sub", root / "p" / "a" / "sub2")
        (root / "p" / "a" / "sub").mkdir()
        sink.release.set()
        settle(watcher, sink)
        (root / "p" / "a" / "sub2" / "f").write_bytes(b"x")
        (root / "p" / "a" / "sub" / "g").write_bytes(b"x")
        calls = settle(watcher, sink)
        assert ("changed", 0, b"p/a/sub2/f", PATH) in calls
        assert ("changed", 0, b"p/a/sub/g", PATH) in calls


def test_a_name_moved_out_then_made_again_ends_as_changed(root, tmp_path):
    (root / "f").write_bytes(b"old")
    with watching([root], sink=BlockingSink()) as (watcher, sink):
        hold(root, sink)
        os.rename(root / "f", tmp_path / "away")
        (root / "f").write_bytes(b"new")
        sink.release.set()
        about_f = [call[0] for call in settle(watcher, sink) if call[2] == b"f"]
        assert about_f[0] == "deleted" and about_f[-1] == "changed"


def test_queue_overflow_asks_for_full_sync_and_watching_goes_on(root):
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        queue_limit = int(f.read())
    if queue_limit > 100_000:
        pytest.skip("fs.inotify.max_queued_events is too large to overflow quickly")
    with watching([root], sink=BlockingSink()) as (watcher, sink):
        hold(root, sink)
        for i in range(queue_limit // 2 + 100):  # two events each: IN_CREATE, IN_CLOSE_WRITE
            with open(root / f"f{i}", "wb"):
                pass
        sink.release.set()
        assert watcher.drain(60)
        assert [reason for reason in sink.full_syncs() if "overflow" in reason]
        sink.take()
        os.mkdir(root / "after")
        (root / "after" / "f").write_bytes(b"x")
        assert covered(settle(watcher, sink), b"after/f")


def test_deleted_root_asks_for_full_sync_and_is_watched_again_when_back(root):
    with watching([root]) as (watcher, sink):
        os.rmdir(root)
        wait_until(lambda: any("deleted" in reason for reason in sink.full_syncs()))
        root.mkdir()
        wait_until(lambda: any("appeared" in reason for reason in sink.full_syncs()))
        sink.take()
        (root / "f").write_bytes(b"x")
        assert ("changed", 0, b"f", PATH) in settle(watcher, sink)


def test_overlapping_roots_are_refused(tmp_path):
    with pytest.raises(ValueError):
        Watcher([os.fsencode(tmp_path), os.fsencode(tmp_path / "inner")], lambda *args: False, RecordingSink())


WATCH_LIMIT_SCRIPT = r"""
import json, logging, sys
from fmirror.watcher import Watcher

logging.basicConfig(level=logging.WARNING)
with open("/proc/sys/user/max_inotify_watches", "w") as f:
    f.write(sys.argv[2])

class Sink:
    def __init__(self):
        self.full_syncs = []
    def full_sync_needed(self, reason):
        self.full_syncs.append(reason)
    def changed(self, *args):
        pass
    deleted = renamed = caught_up = changed

sink = Sink()
watcher = Watcher([sys.argv[1].encode()], lambda *args: False, sink)
watcher.start()
print(json.dumps({"unwatched": watcher.unwatched, "full_syncs": sink.full_syncs}))
watcher.stop()
"""


def test_watch_limit_asks_for_full_sync_and_counts_unwatched_dirs(root):
    # The limit is lowered in a user namespace of our own, where it binds only
    # this process: lowering the machine-wide sysctl would break other watchers.
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a user namespace here")
    for i in range(20):
        os.makedirs(root / f"d{i}")
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", sys.executable, "-c", WATCH_LIMIT_SCRIPT, str(root), "5"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["unwatched"] == 21 - 5
    assert result["full_syncs"]
    assert "max_user_watches" in proc.stderr
