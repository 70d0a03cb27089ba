"""Peer checks and renames over a session kept open to the peer's daemon (link.py, serve.serve_link)."""

import os

import psutil

from fmirror.lab.wait import wait_until

from test_resident import _arrives, _dir_renamed, _edit_config, _handoff


def _link(mirror, host="master", peer="slave") -> dict:
    return mirror.status(host)["links"].get(peer, {"requests": 0, "broken": 0})


def test_peer_checks_and_renames_start_no_process_on_the_peer(mirror):
    (mirror.m() / "dir").mkdir()
    _arrives(mirror, "dir/a.txt", "a")
    wait_until(lambda: mirror.status()["peers"], 30, "the master knowing its slave")
    before, slave_before = _link(mirror), _link(mirror, "slave", "master")
    served = mirror.status("master")["handoff"]["served"]
    # The slave asks for the master's state every 5 s, over the link (nothing starts on the
    # master), and tells its own with it: the master, told, asks nothing of the slave.
    wait_until(lambda: _link(mirror, "slave", "master")["requests"] >= slave_before["requests"] + 3, 30,
               "three checks of the master over the link")
    assert mirror.status("master")["handoff"]["served"] == served
    assert _link(mirror)["requests"] == before["requests"]
    assert mirror.status()["peers"]["slave"]["role"] == "slave"
    os.rename(mirror.m() / "dir", mirror.m() / "moved")
    wait_until(lambda: (mirror.s() / "moved/a.txt").exists() and not (mirror.s() / "dir").exists(), 30,
               "the rename on the slave")
    assert _link(mirror)["broken"] == 0
    assert _link(mirror)["requests"] > before["requests"]


def test_a_config_edit_on_the_slave_closes_the_link_and_requests_go_the_ordinary_way(mirror):
    wait_until(lambda: _link(mirror)["requests"] >= 1, 30, "a peer check over the link")
    _edit_config(mirror)
    before = _link(mirror)
    _dir_renamed(mirror)
    # The link the daemon served ended at the edit; the next one is served by `fmirror serve` itself.
    wait_until(lambda: _link(mirror)["broken"] > before["broken"], 30, "the old link noticed as closed")
    after = _link(mirror)
    # The slave tells the master its state, so the master's next request is a rename, not a check.
    (mirror.m() / "dir2").mkdir()
    _arrives(mirror, "dir2/b.txt", "b")
    os.rename(mirror.m() / "dir2", mirror.m() / "moved2")
    wait_until(lambda: _link(mirror)["requests"] > after["requests"], 30, "requests over the new link")


def _link_ssh(mirror):
    """The master daemon's ssh process that carries its link to the slave, or None."""
    daemon = psutil.Process(mirror.status()["daemon"]["pid"])
    return next((p for p in daemon.children() if p.name() == "ssh" and "link" in " ".join(p.cmdline())), None)


def test_the_master_opens_its_link_again_at_each_full_sync(mirror_factory):
    # The link's session holds the ssh connection to the slave open. Without one, the connection
    # ended a minute after the full sync, and the first change after that paid a whole handshake
    # (0.4-1.2 s in the scale bench). Nothing else here asks the slave anything: it tells the
    # master its state by itself, and nothing is pushed.
    mirror = mirror_factory(replication={"full_sync_interval": 2}).start()
    old = wait_until(lambda: _link_ssh(mirror), 30, "the link to the slave")
    old.terminate()
    old.wait(10)
    synced = mirror.status()["slaves"]["slave"]["last_full_sync"]
    wait_until(lambda: mirror.status()["slaves"]["slave"]["last_full_sync"] > synced, 30, "the next full sync")
    new = wait_until(lambda: _link_ssh(mirror), 5, "the link open again")
    assert new.pid != old.pid and _link(mirror)["open"]
