"""Faults on the way: a push that rsync only partly did, a slave that cannot be reached, reloads."""

import ctypes
import os
import signal
import time

import yaml

from fmirror.lab import trees
from fmirror.lab.wait import wait_until

CONVERGE = 60


def _slave_state(mirror, name="slave"):
    return mirror.status()["slaves"][name]


def test_partial_transfer_exit_23_keeps_changes_queued(mirror):
    m, s = mirror.m(), mirror.s()
    (m / "locked").mkdir()
    trees.wait_equal(m, s, CONVERGE)
    # An immutable directory on the slave: rsync cannot create the file (exit 23).
    mirror.slave.run(["chattr", "+i", "/srv/www/locked"], check=True)
    try:
        (m / "locked" / "file").write_text("must arrive")
        (m / "elsewhere").write_text("arrives")
        slave = wait_until(lambda: (lambda st: st if st["state"] == "retrying" else None)(_slave_state(mirror)),
                           CONVERGE, "push failing with exit 23")
        assert "exit 23" in slave["last_error"]
        assert slave["unsent"] >= 1
        assert not (s / "locked" / "file").exists()
        assert mirror.lab.fmirror("master", "wait", "--timeout", "1").returncode == 1
    finally:
        mirror.slave.run(["chattr", "-i", "/srv/www/locked"], check=True)
    trees.wait_equal(m, s, CONVERGE)
    assert (s / "locked" / "file").read_text() == "must arrive"


def test_one_unreachable_slave_never_holds_back_another(mirror_factory):
    nodes = ("master", "slave", "witness")    # the witness host serves as a second slave here
    mirror = mirror_factory(hosts=nodes, nodes=nodes).start()
    mirror.lab.link_down("witness")
    for i in range(20):
        (mirror.m() / f"f{i}").write_text(str(i))
    trees.wait_equal(mirror.m(), mirror.s(), CONVERGE)
    assert _slave_state(mirror, "witness")["unsent"] > 0
    mirror.lab.link_up("witness")
    trees.wait_equal(mirror.m(), mirror.lab["witness"].path("/srv/www"), CONVERGE)


def test_sighup_reloads_and_a_broken_config_keeps_the_running_one(mirror):
    m, s = mirror.m(), mirror.s()
    mirror.cfg["exclude"] = ["*.tmp"]
    mirror.lab.write_config(yaml.safe_dump(mirror.cfg))
    mirror.lab.daemon("master").send_signal(signal.SIGHUP)
    log = mirror.lab.log_path("master", "daemon")
    wait_until(lambda: b"configuration reloaded" in log.read_bytes(), 30, "reload")
    (m / "scratch.tmp").write_text("excluded now")
    (m / "kept.txt").write_text("still mirrored")
    mirror.lab.fmirror("master", "wait", "--timeout", "30", check=True)
    assert (s / "kept.txt").exists() and not (s / "scratch.tmp").exists()

    # Broken on the master only: the slave's `fmirror serve` reads its own copy.
    mirror.master.path("/etc/fmirror/fmirror.yaml").write_text("nodes: [this is: not valid\n")
    mirror.lab.daemon("master").send_signal(signal.SIGHUP)
    wait_until(lambda: b"reload refused" in log.read_bytes(), 30, "refused reload")
    assert mirror.lab.daemon("master").poll() is None
    (m / "after.txt").write_text("the old configuration still runs")
    # (fmirror wait would refuse: it reads the broken file too.)
    wait_until(lambda: (s / "after.txt").exists(), CONVERGE, "after.txt on the slave")
    assert not (s / "scratch.tmp").exists()


def test_a_sighup_taken_by_any_thread_of_the_daemon_reloads_at_once(mirror):
    # The kernel may hand a process's signal to any of its threads; Python runs the handler
    # in the main one only, which may be asleep in the loop's wait for an hour.
    time.sleep(2)     # past the start: the loop sleeps until its next due work
    daemon = mirror.lab.daemon("master")
    others = sorted(int(t) for t in os.listdir(f"/proc/{daemon.pid}/task") if int(t) != daemon.pid)
    assert others, "the daemon runs threads"
    mirror.cfg["exclude"] = ["*.tmp"]
    mirror.lab.write_config(yaml.safe_dump(mirror.cfg))
    # The first thread that still runs (short-lived ones may have ended since the listing).
    assert any(ctypes.CDLL(None).tgkill(daemon.pid, tid, signal.SIGHUP) == 0 for tid in others)
    log = mirror.lab.log_path("master", "daemon")
    wait_until(lambda: b"configuration reloaded" in log.read_bytes(), 10, "reload")


def test_an_unmounted_root_never_empties_the_slave(mirror_factory):
    mirror = mirror_factory()
    master, s = mirror.master, mirror.s()
    # The mirrored root is a filesystem of its own (written from inside the host: it is not under m()).
    master.run(["mount", "-t", "tmpfs", "fmirror-test", "/srv/www"], check=True)
    master.run(["sh", "-c", "echo data > /srv/www/precious && mkdir /srv/www/d && echo x > /srv/www/d/f"],
               check=True)
    mirror.start()
    assert (s / "precious").read_text() == "data\n" and (s / "d" / "f").exists()
    synced = _slave_state(mirror)["last_full_sync"]
    master.run(["umount", "/srv/www"], check=True)     # what is left is the empty mount point
    wait_until(lambda: _slave_state(mirror)["last_full_sync"] != synced, CONVERGE,
               "the full reconciliation the unmount asks for")
    assert (s / "precious").read_text() == "data\n" and (s / "d" / "f").exists()
    assert b"is empty here" in mirror.lab.log_path("master", "daemon").read_bytes()
