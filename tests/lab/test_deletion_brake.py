"""The mass-deletion brake on real hosts: a mass deletion on the master waits for an operator."""

import json
import os
import shutil

from fmirror.lab import mirror as lab_mirror, trees
from fmirror.lab.cluster import hook
from fmirror.lab.wait import wait_until

CONVERGE = 60
API = "http://127.0.0.1:8730"


def _health(lab, host):
    """(status code, body) of GET /health on the host's own API."""
    probe = ("import sys, urllib.request, urllib.error\n"
             "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5)\n"
             " print(r.status); sys.stdout.write(r.read().decode())\n"
             "except urllib.error.HTTPError as e:\n print(e.code); sys.stdout.write(e.read().decode())\n")
    out = lab[host].run([lab_mirror.FMIRROR.parent / "python", "-c", probe, API + "/health"], check=True).text
    code, _, body = out.partition("\n")
    return int(code), json.loads(body)


def _brake(mirror):
    try:
        return mirror.status()["slaves"]["slave"]["brake"]
    except Exception:
        return None


def _events(mirror):
    log = mirror.master.path("/run/hooks.log")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _files(root):
    return sum(len(names) for _, _, names in os.walk(root))


def test_mass_deletion_is_paused_shown_and_let_through_by_release(mirror_factory):
    # delay 1 s: the whole burst of unlinks travels in one push, as one rm -rf would.
    mirror = mirror_factory(replication={"max_delete": 1000, "delay": 1.0}, hooks={"notify": hook("notify")})
    m, s = mirror.m(), mirror.s()
    (m / "many").mkdir()
    for i in range(5000):
        (m / "many" / f"f{i:04d}").write_bytes(b"x" * (i % 100))
    mirror.start()
    trees.wait_equal(m, s, CONVERGE)
    assert _health(mirror.lab, "master")[0] == 200

    for i in range(5000):
        (m / "many" / f"f{i:04d}").unlink()
    brake = wait_until(lambda: _brake(mirror), 30, "the brake engaged")
    assert (brake["path"], brake["deletes"]) == ("/srv/www", 5000)
    assert _files(s / "many") == 5000                  # none deleted on the slave

    code, body = _health(mirror.lab, "master")
    assert code == 503 and "deletion brake: 5000 deletions under /srv/www" in body["reason"]
    assert "DELETION BRAKE on /srv/www" in mirror.lab.fmirror("master", "status", check=True).stdout.decode()
    wait_until(lambda: any(e["FMIRROR_EVENT"] == "deletion-brake" for e in _events(mirror)), 10,
               "the notify hook told of the brake")

    # Everything but the deletions keeps flowing, on this path and the others.
    (m / "after.txt").write_text("written after the mass deletion")
    (m / "many" / "new-inside").write_text("in the emptied folder")
    (mirror.m("/srv/data") / "elsewhere").write_text("another path")
    wait_until(lambda: (s / "after.txt").exists() and (s / "many" / "new-inside").exists()
               and (mirror.s("/srv/data") / "elsewhere").exists(), CONVERGE, "new files on the slave")
    assert _files(s / "many") == 5001
    # The last push's files land before its acknowledgement is counted: wait for that too.
    slave = wait_until(lambda: (lambda st: st if st["unsent"] == 5000 else None)(mirror.status()["slaves"]["slave"]),
                       10, "only the deletions unsent")
    assert slave["brake"]["deletes"] == 5000

    result = mirror.lab.fmirror("master", "release-brake")
    assert result.returncode == 0, result.stderr
    assert b"5000 deletions under /srv/www on slave" in result.stdout
    trees.wait_equal(m, s, CONVERGE)
    assert _files(s / "many") == 1
    wait_until(lambda: _health(mirror.lab, "master")[0] == 200, 30, "healthy again")
    assert _brake(mirror) is None
    again = mirror.lab.fmirror("master", "release-brake")
    assert again.returncode == 1 and b"no deletion is paused" in again.stderr


def test_brake_lets_go_by_itself_when_the_files_come_back_on_the_master(mirror_factory):
    mirror = mirror_factory(replication={"max_delete": 10, "delay": 1.0})
    m, s = mirror.m(), mirror.s()
    saved = mirror.master.path("/srv/saved")
    (m / "d").mkdir()
    for i in range(50):
        (m / "d" / f"f{i}").write_text(f"file {i}")
    mirror.start()
    trees.wait_equal(m, s, CONVERGE)
    shutil.copytree(m / "d", saved / "d")
    inodes = {p.name: p.stat().st_ino for p in (s / "d").iterdir()}

    for i in range(50):
        (m / "d" / f"f{i}").unlink()
    wait_until(lambda: _brake(mirror), 30, "the brake engaged")
    for i in range(50):                                   # the operator restores from a backup
        shutil.copy2(saved / "d" / f"f{i}", m / "d" / f"f{i}")
    wait_until(lambda: _brake(mirror) is None, CONVERGE, "the brake let go")
    trees.wait_equal(m, s, CONVERGE)
    # Never deleted on the slave: the same files, not copies sent again.
    assert {p.name: p.stat().st_ino for p in (s / "d").iterdir()} == inodes


def test_a_full_reconciliation_that_would_delete_too_much_is_braked_too(mirror_factory):
    mirror = mirror_factory(replication={"max_delete": 100})
    m, s = mirror.m(), mirror.s()
    for i in range(300):
        (m / f"f{i}").write_text(str(i))
    mirror.start()
    trees.wait_equal(m, s, CONVERGE)
    # Deleted while no daemon watched: only the reconciliation at the next start sees it.
    mirror.lab.kill_daemon("master")
    for i in range(300):
        (m / f"f{i}").unlink()
    (m / "new").write_text("made while the daemon was down")
    mirror.lab.start_daemon("master")
    brake = wait_until(lambda: _brake(mirror), 30, "the brake engaged")
    assert brake["deletes"] == 300
    wait_until(lambda: (s / "new").exists(), CONVERGE, "the new file on the slave")
    assert _files(s) == 301
    assert mirror.lab.fmirror("master", "release-brake").returncode == 0
    trees.wait_equal(m, s, CONVERGE)


def test_a_change_that_needs_a_held_deletion_waits_for_the_release(mirror_factory):
    # A folder of 50 files replaced by a file of the same name: the file cannot be made without the deletions.
    mirror = mirror_factory(replication={"max_delete": 10, "delay": 1.0})
    m, s = mirror.m(), mirror.s()
    (m / "d").mkdir()
    for i in range(50):
        (m / "d" / f"f{i}").write_text(str(i))
    mirror.start()
    trees.wait_equal(m, s, CONVERGE)
    shutil.rmtree(m / "d")
    (m / "d").write_text("now a file")
    wait_until(lambda: _brake(mirror), 30, "the brake engaged")
    slave = wait_until(lambda: (st := mirror.status()["slaves"]["slave"])["state"] == "retrying" and st, 30,
                       "the push of /srv/www retried")
    assert "needs a deletion the brake holds" in slave["last_error"]
    assert _files(s / "d") == 50
    (mirror.m("/srv/data") / "elsewhere").write_text("another path flows")
    wait_until(lambda: (mirror.s("/srv/data") / "elsewhere").exists(), CONVERGE, "the other path on the slave")
    assert mirror.lab.fmirror("master", "release-brake").returncode == 0
    trees.wait_equal(m, s, CONVERGE)
    assert (s / "d").read_text() == "now a file"
