"""Kept versions on real hosts: what a push deletes or overwrites on the slave is kept, dated; restore and prune."""

import os
import time

from fmirror import stamps
from fmirror.lab import trees
from fmirror.lab.wait import wait_until

CONVERGE = 60
DAY = 86400.0
AREA = "/var/lib/fmirror/versions/srv/www"


def _versions(mirror, path):
    """[(time, size, content)] that `fmirror versions list` shows on the slave, oldest first."""
    result = mirror.lab.fmirror("slave", "versions", "list", path)
    assert result.returncode == 0, result.stderr
    out = []
    for line in result.stdout.decode().splitlines():
        when, size, _, kept = line.split(None, 3)
        assert kept.startswith(AREA + "/")          # outside the mirrored tree
        out.append((stamps.parse_time(when), int(size), mirror.slave.path(kept).read_bytes()))
    return out


def _write(path, data: bytes, mode=0o644):
    path.write_bytes(data)
    path.chmod(mode)


def test_overwritten_and_deleted_files_are_kept_dated_and_restored_through_the_master(mirror_factory):
    mirror = mirror_factory(replication={"keep_versions_days": 7}).start()
    m, s = mirror.m(), mirror.s()
    _write(m / "doc.txt", b"first")
    _write(m / "gone.txt", b"deleted later", 0o640)
    os.utime(m / "gone.txt", (1_600_000_000, 1_600_000_000))
    (m / "sub").mkdir()
    _write(m / "sub" / "deep.txt", b"in a folder that goes away")
    trees.wait_equal(m, s, CONVERGE)
    assert not mirror.slave.path(AREA).exists()     # new files replace nothing

    before = time.time()
    _write(m / "doc.txt", b"second, longer")
    (m / "gone.txt").unlink()
    (m / "sub" / "deep.txt").unlink()
    (m / "sub").rmdir()
    trees.wait_equal(m, s, CONVERGE)
    between = time.time()
    _write(m / "doc.txt", b"third")
    trees.wait_equal(m, s, CONVERGE)
    after = time.time()

    doc = _versions(mirror, "/srv/www/doc.txt")
    assert [(size, body) for _, size, body in doc] == [(5, b"first"), (14, b"second, longer")]
    assert before <= doc[0][0] <= between <= doc[1][0] <= after
    [(when, _, body)] = _versions(mirror, "/srv/www/gone.txt")
    assert body == b"deleted later" and before <= when <= between
    assert _versions(mirror, "/srv/www/sub/deep.txt")[0][2] == b"in a folder that goes away"
    # The mirror itself holds exactly the master's tree: the versions live elsewhere.
    assert trees.snapshot(m) == trees.snapshot(s)

    # The version from before the first overwrite, chosen by the time `list` printed; back on the master first.
    result = mirror.lab.fmirror("slave", "versions", "restore", "/srv/www/doc.txt", "--at", stamps.show(doc[0][0]))
    assert result.returncode == 0, result.stderr
    assert (m / "doc.txt").read_bytes() == b"first"
    trees.wait_equal(m, s, CONVERGE)
    # Its replacement on the slave is a version in turn: nothing is lost by a restore either.
    assert [body for _, _, body in _versions(mirror, "/srv/www/doc.txt")][-1] == b"third"

    # A deleted file comes back with its mode and mtime, into the master's tree, then to the slave.
    result = mirror.lab.fmirror("slave", "versions", "restore", "/srv/www/gone.txt")
    assert result.returncode == 0, result.stderr
    st = (m / "gone.txt").stat()
    assert ((m / "gone.txt").read_bytes(), st.st_mode & 0o7777, st.st_mtime) == (b"deleted later", 0o640, 1_600_000_000)
    result = mirror.lab.fmirror("slave", "versions", "restore", "/srv/www/sub/deep.txt")
    assert result.returncode == 0, result.stderr
    trees.wait_equal(m, s, CONVERGE)
    assert (s / "sub" / "deep.txt").read_bytes() == b"in a folder that goes away"

    # Restore writes to the master, so it runs on a slave; and the master's serve takes puts from its slaves only.
    refused = mirror.lab.fmirror("master", "versions", "restore", "/srv/www/doc.txt")
    assert refused.returncode == 3 and b"runs on a slave" in refused.stderr
    outside = mirror.lab.ssh("slave", "master", "fmirror/1 put --epoch 1 --from slave --mode 420 --mtime-ns 0 "
                             "--uid 0 --gid 0 -- /etc/evil", input=b"x")
    assert outside.returncode == 3 and b"not inside a mirrored path" in outside.stderr
    escape = mirror.lab.ssh("slave", "master", "fmirror/1 put --epoch 1 --from slave --mode 420 --mtime-ns 0 "
                            "--uid 0 --gid 0 -- /srv/www/../../etc/evil", input=b"x")
    assert escape.returncode == 3


def test_prune_removes_only_versions_older_than_the_setting(mirror_factory):
    mirror = mirror_factory(replication={"keep_versions_days": 2}).start()
    m, s = mirror.m(), mirror.s()
    # Sizes differ: rsync's quick check sees a same-size rewrite within one second as unchanged.
    for body in (b"v1", b"v2.", b"v3..", b"v4..."):
        _write(m / "f", body)
        trees.wait_equal(m, s, CONVERGE)
    area = mirror.slave.path(AREA)
    folders = sorted(os.listdir(area))
    assert len(folders) == 3                        # v1, v2 and v3 were overwritten
    # Age them: the folder's name is the time the push replaced the file.
    now = time.time()
    for name, age in zip(folders, (3 * DAY, 2.1 * DAY, 1.9 * DAY)):
        os.rename(area / name, area / stamps.stamp(now - age))

    result = mirror.lab.fmirror("slave", "versions", "prune")
    assert result.returncode == 0, result.stderr
    assert b"removed 2 folders" in result.stdout
    assert [body for _, _, body in _versions(mirror, "/srv/www/f")] == [b"v3.."]

    # The slave's daemon prunes by itself too (at start, then every hour).
    os.rename(area / os.listdir(area)[0], area / stamps.stamp(now - 2.5 * DAY))
    _write(m / "f", b"v5....")
    trees.wait_equal(m, s, CONVERGE)
    mirror.lab.kill_daemon("slave")
    mirror.lab.start_daemon("slave")
    wait_until(lambda: len(os.listdir(area)) == 1, 30, "the slave's daemon pruned the old version")
    assert [body for _, _, body in _versions(mirror, "/srv/www/f")] == [b"v4..."]
