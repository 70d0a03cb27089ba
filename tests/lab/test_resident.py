"""Pushes and renames handed by `fmirror serve` to the slave's running daemon (handoff.py, resident.py)."""

import os
import signal

from fmirror.lab.wait import wait_until


def _handoff(mirror) -> dict:
    return mirror.status("slave")["handoff"]


def _arrives(mirror, rel, text):
    (mirror.m() / rel).write_text(text)
    wait_until(lambda: (mirror.s() / rel).exists() and (mirror.s() / rel).read_text() == text, 30,
               f"{rel} on the slave")


def _dir_renamed(mirror):
    """dir/a.txt written on the master and on the slave, then dir renamed to moved on both."""
    (mirror.m() / "dir").mkdir()
    _arrives(mirror, "dir/a.txt", "a")
    os.rename(mirror.m() / "dir", mirror.m() / "moved")
    wait_until(lambda: (mirror.s() / "moved/a.txt").exists() and not (mirror.s() / "dir").exists(), 30,
               "the rename on the slave")


def _edit_config(mirror):
    """Change the slave's config file as an edit would, without the daemon reading it."""
    config = mirror.slave.path("/etc/fmirror/fmirror.yaml")
    st = config.stat()
    os.utime(config, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))


def test_pushes_are_served_by_the_slave_daemon(mirror):
    before = _handoff(mirror)
    _dir_renamed(mirror)
    # At least the push of dir/a.txt (the rename goes over the link, and needs no push after it).
    wait_until(lambda: _handoff(mirror)["served"] >= before["served"] + 1, 30, "the push of dir/a.txt")
    assert _handoff(mirror)["declined"] == before["declined"]
    # Every handed receive was listed while it ran and unlisted when it ended (the push
    # after the rename may still run when the count moved).
    wait_until(lambda: not list(mirror.s("/var/lib/fmirror/receivers").iterdir()), 10, "every receive unlisted")


def test_an_edited_config_sends_pushes_the_full_way_until_the_daemon_reloads(mirror):
    _edit_config(mirror)
    before = _handoff(mirror)
    _arrives(mirror, "full-way.txt", "x")
    edited = _handoff(mirror)
    assert edited["served"] == before["served"] and edited["declined"] > before["declined"], (before, edited)

    log = mirror.lab.log_path("slave", "daemon")
    mirror.lab.daemon("slave").send_signal(signal.SIGHUP)
    wait_until(lambda: b"configuration reloaded" in log.read_bytes(), 30, "the slave's reload")
    _arrives(mirror, "handed.txt", "y")
    # Counted once the receive ended, a moment after the file is in place.
    wait_until(lambda: _handoff(mirror)["served"] > edited["served"], 10, "a push handed again")
