"""Live master→slave mirroring on real hosts: real daemons, sshd, rsync and inotify."""

import os
import signal
import threading
import time

from fmirror.lab import trees
from fmirror.lab.wait import wait_until

from trees_gen import tricky_tree

CONVERGE = 60


def test_initial_full_sync_carries_every_kind_of_entry(mirror_factory):
    mirror = mirror_factory()
    tricky_tree(mirror.m())
    (mirror.m("/srv/data") / "other").write_text("second path")
    mirror.start()
    trees.wait_equal(mirror.m(), mirror.s(), CONVERGE)
    trees.wait_equal(mirror.m("/srv/data"), mirror.s("/srv/data"), CONVERGE)


def test_live_tree_of_every_kind_converges(mirror):
    tricky_tree(mirror.m())
    trees.wait_equal(mirror.m(), mirror.s(), CONVERGE)


def test_live_changes_converge(mirror):
    m = mirror.m()
    (m / "f").write_text("one")
    (m / "g").write_text("doomed")
    (m / "d").mkdir()
    trees.wait_equal(m, mirror.s(), CONVERGE)
    (m / "f").write_text("two, longer")                # modify
    with open(m / "f", "a") as f:                       # append
        f.write(" and more")
    os.chmod(m / "f", 0o600)                            # chmod
    (m / "g").unlink()                                  # delete
    os.rename(m / "f", m / "d" / "f2")                  # rename a file
    os.chmod(m / "d", 0o711)
    trees.wait_equal(m, mirror.s(), CONVERGE)


def test_directory_rename_is_a_rename_on_the_slave_and_nothing_more(mirror):
    m, s = mirror.m(), mirror.s()
    (m / "big").mkdir()
    (m / "into").mkdir()
    for i in range(1000):
        (m / "big" / f"f{i:04d}").write_bytes(os.urandom(2048))
    trees.wait_equal(m, s, CONVERGE)
    wait_until(lambda: mirror.status()["slaves"]["slave"]["unsent"] == 0, CONVERGE, "every push acknowledged")
    inode = (s / "big" / "f0500").stat().st_ino
    sent_before = mirror.status()["slaves"]["slave"]["bytes_sent"]
    os.rename(m / "big", m / "into" / "renamed")
    trees.wait_equal(m, s, CONVERGE)
    # The slave's files survived the rename: they were moved, not sent again.
    assert (s / "into" / "renamed" / "f0500").stat().st_ino == inode
    # Both directories the rename changed have the master's mtimes, to the nanosecond...
    wait_until(lambda: [p.stat().st_mtime_ns for p in (s, s / "into")] == [p.stat().st_mtime_ns for p in (m, m / "into")],
               CONVERGE, "the parents' mtimes on the slave")
    # ...and no push followed: the slave had all of it, under the old name.
    assert mirror.status()["slaves"]["slave"]["bytes_sent"] == sent_before


def test_a_rename_of_unsent_changes_still_pushes_them(mirror):
    m, s = mirror.m(), mirror.s()
    (m / "d").mkdir()
    (m / "d" / "f").write_text("old")
    trees.wait_equal(m, s, CONVERGE)
    mirror.lab.block("master", "slave")
    try:
        # Unsent when the directory moves: the slave's d/f is the old one, or gone.
        (m / "d" / "f").write_text("new, unsent")
        os.rename(m / "d", m / "e")
        wait_until(lambda: mirror.status()["slaves"]["slave"]["unsent"] >= 3, CONVERGE, "the rename queued")
    finally:
        mirror.lab.unblock("master", "slave")
    trees.wait_equal(m, s, CONVERGE)
    assert (s / "e" / "f").read_text() == "new, unsent"


def test_directories_moved_in_and_out_of_the_tree(mirror):
    m, s = mirror.m(), mirror.s()
    outside = mirror.master.path("/srv/outside")
    (outside / "incoming" / "sub").mkdir(parents=True)
    (outside / "incoming" / "sub" / "file").write_text("came from outside")
    (m / "leaving").mkdir()
    (m / "leaving" / "file").write_text("goes away")
    trees.wait_equal(m, s, CONVERGE)
    os.rename(outside / "incoming", m / "incoming")
    os.rename(m / "leaving", outside / "leaving")
    trees.wait_equal(m, s, CONVERGE)
    assert (s / "incoming" / "sub" / "file").read_text() == "came from outside"
    assert not (s / "leaving").exists()
    # Changes inside a directory moved in are watched from then on.
    (m / "incoming" / "sub" / "later").write_text("later")
    trees.wait_equal(m, s, CONVERGE)


def test_slave_sshd_down_for_20s_loses_nothing(mirror):
    m = mirror.m()
    mirror.lab.stop_sshd("slave")
    deadline = time.monotonic() + 20
    i = 0
    while time.monotonic() < deadline:
        (m / f"while-down-{i}").write_text(str(i))
        i += 1
        time.sleep(0.05)
    (m / "while-down-0").unlink()
    slave = mirror.status()["slaves"]["slave"]
    assert slave["unsent"] > 0 and slave["state"] == "retrying", slave
    mirror.lab.start_sshd("slave")
    trees.wait_equal(m, mirror.s(), CONVERGE)


def test_master_killed_mid_stream_and_restarted_converges(mirror):
    m = mirror.m()
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            (m / f"stream-{i % 300}").write_bytes(os.urandom(512) * (i % 7 + 1))
            i += 1
            time.sleep(0.002)
    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(1.5)
        mirror.lab.kill_daemon("master", signal.SIGKILL)
        time.sleep(1.0)                       # writes go on while no daemon watches
        mirror.lab.start_daemon("master")
        time.sleep(1.5)
    finally:
        stop.set()
        t.join()
    trees.wait_equal(m, mirror.s(), CONVERGE)


def test_inotify_overflow_triggers_full_reconciliation(mirror):
    m = mirror.m()
    knob = "/proc/sys/fs/inotify/max_queued_events"
    # At least the kernel's default: a run of this test killed before its finally left 8 behind once,
    # and every later burst overflowed (bench/report.py refuses to measure that way).
    saved = str(max(int(open(knob).read()), 16384))
    try:
        with open(knob, "w") as f:
            f.write("8")
        # The limit applies to queues made after the change: restart the daemon's watches.
        mirror.lab.kill_daemon("master")
        mirror.lab.start_daemon("master")
        wait_until(lambda: _has_full_sync(mirror), 30, "first full sync")
        for i in range(3000):
            (m / f"flood-{i}").write_bytes(b"x")
        trees.wait_equal(m, mirror.s(), CONVERGE)
    finally:
        with open(knob, "w") as f:
            f.write(saved)
    log = (mirror.lab.log_path("master", "daemon")).read_text(errors="replace")
    assert "overflow" in log.lower()


def _has_full_sync(mirror):
    try:
        return mirror.status()["slaves"]["slave"]["last_full_sync"]
    except Exception:
        return False


def test_a_file_written_into_a_new_directory_reaches_the_slave_only_whole(mirror):
    # The new directory's push used to recurse into it and send the file half written,
    # then again once closed: twice the work on a 50 MB file.
    m, s = mirror.m(), mirror.s()
    sizes, done = set(), threading.Event()

    def watch_slave():
        while not done.is_set():
            try:
                sizes.add((s / "new" / "big").stat().st_size)
            except FileNotFoundError:
                pass
            time.sleep(0.002)

    watcher = threading.Thread(target=watch_slave, daemon=True)
    watcher.start()
    chunk = os.urandom(64 * 1024)
    try:
        (m / "new").mkdir()
        with open(m / "new" / "big", "wb") as f:
            for _ in range(64):                # 4 MiB in ~0.3 s: well within the wait for its close
                f.write(chunk)
                f.flush()
                time.sleep(0.004)
        trees.wait_equal(m, s, CONVERGE)
    finally:
        done.set()
        watcher.join()
    assert sizes == {64 * len(chunk)}


def test_a_new_directory_and_the_file_being_written_in_it_go_in_one_push(mirror):
    # Sent alone, the directory cost a push of its own while its file could not go yet.
    m, s = mirror.m(), mirror.s()
    trees.wait_equal(m, s, CONVERGE)
    pushes = _pushes_when_idle(mirror)
    chunk = os.urandom(64 * 1024)
    (m / "new").mkdir()
    with open(m / "new" / "big", "wb") as f:
        for _ in range(16):                    # 1 MiB in ~0.3 s: past the delay, within the settle time
            f.write(chunk)
            f.flush()
            time.sleep(0.02)
    trees.wait_equal(m, s, CONVERGE)
    assert _pushes_when_idle(mirror) == pushes + 1


def _pushes_when_idle(mirror):
    """The slave's count of pushes once nothing is unsent and it stays put: a push is counted
    just after the slave has its files."""
    def idle():
        before = mirror.status()["slaves"]["slave"]
        time.sleep(0.3)
        after = mirror.status()["slaves"]["slave"]
        return [after["pushes"]] if after["unsent"] == 0 and after["pushes"] == before["pushes"] else None
    return wait_until(idle, CONVERGE, "the pushes to the slave to settle")[0]


def test_a_directory_moved_away_and_made_again_at_once_leaves_nothing_of_it_there(mirror):
    # Made again under the same name before the push: the new one is pushed whole, or the
    # slave would keep what the one moved away held.
    m, s = mirror.m(), mirror.s()
    (m / "d" / "sub").mkdir(parents=True)
    (m / "d" / "sub" / "old").write_text("moved away")
    trees.wait_equal(m, s, CONVERGE)
    os.rename(m / "d", mirror.master.path("/srv/outside"))
    (m / "d").mkdir()
    (m / "d" / "new").write_text("made again")
    trees.wait_equal(m, s, CONVERGE)
    assert sorted(p.name for p in (s / "d").iterdir()) == ["new"]


def test_file_appended_in_a_loop_ends_identical(mirror):
    m = mirror.m()
    deadline = time.monotonic() + 4
    with open(m / "log", "ab") as f:
        while time.monotonic() < deadline:
            f.write(os.urandom(100) + b"\n")
            f.flush()
            time.sleep(0.001)
    trees.wait_equal(m, mirror.s(), CONVERGE)


def test_wait_returns_once_the_change_is_on_the_slave(mirror):
    for i in range(20):
        payload = os.urandom(64 * 1024 * (i % 4 + 1))
        (mirror.m() / f"w{i}").write_bytes(payload)
        result = mirror.lab.fmirror("master", "wait", "--timeout", "30")
        assert result.returncode == 0, result.stderr
        assert (mirror.s() / f"w{i}").read_bytes() == payload


def test_wait_times_out_with_status_1_when_the_slave_is_unreachable(mirror):
    mirror.lab.stop_sshd("slave")
    (mirror.m() / "stuck").write_text("x")
    result = mirror.lab.fmirror("master", "wait", "--timeout", "2")
    assert result.returncode == 1
    assert b"not every change" in result.stderr


def test_status_reports_role_epoch_and_slaves(mirror):
    st = mirror.status()
    assert (st["node"], st["role"], st["epoch"]) == ("master", "master", 1)
    assert st["slaves"]["slave"]["state"] == "ok"
    text = mirror.lab.fmirror("master", "status", check=True).stdout.decode()
    assert "node master: master, epoch 1" in text
    slave = mirror.status("slave")
    assert (slave["node"], slave["role"]) == ("slave", "slave")


def test_sigterm_stops_cleanly_and_leaves_no_children(mirror):
    daemon = mirror.lab.daemon("master")
    import psutil
    children = psutil.Process(daemon.pid).children(recursive=True)
    (mirror.m() / "last").write_text("x")
    assert mirror.lab.kill_daemon("master", signal.SIGTERM) == 0
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_seed_copies_everything(mirror_factory):
    mirror = mirror_factory()
    tricky_tree(mirror.m(), big=False)
    result = mirror.lab.fmirror("master", "seed", timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"seed slave:/srv/www: done" in result.stderr
    trees.wait_equal(mirror.m(), mirror.s(), 1)


def test_a_same_size_rewrite_within_the_same_second_is_replicated(mirror):
    f = mirror.m() / "same-size"
    second = int(time.time()) - 100
    f.write_bytes(b"version one")
    os.utime(f, ns=(second * 10**9 + 100_000_000,) * 2)
    mirror.lab.fmirror("master", "wait", "--timeout", "30", check=True)
    assert (mirror.s() / "same-size").read_bytes() == b"version one"
    f.write_bytes(b"version two")                  # same size, same second, other nanoseconds
    os.utime(f, ns=(second * 10**9 + 900_000_000,) * 2)
    mirror.lab.fmirror("master", "wait", "--timeout", "30", check=True)
    assert (mirror.s() / "same-size").read_bytes() == b"version two"
