"""Kept versions: which one a restore picks, what prune removes, the put request, time stamps."""

import io
import os

import pytest

from fmirror import stamps, versions
from fmirror.config.model import Config, Node, Replication, Role
from fmirror.errors import Failed, UsageError
from fmirror.versions import Version

DAY = 86400.0


def _v(at):
    return Version(at, 1, b"/x")


def test_choose_takes_the_newest_without_a_time():
    assert versions.choose([_v(10), _v(20), _v(30)]).at == 30


def test_choose_at_a_time_gives_the_content_the_file_had_then():
    kept = [_v(10), _v(20), _v(30)]      # each replaced at that time: before 10 it was the first
    assert versions.choose(kept, 5).at == 10
    assert versions.choose(kept, 20).at == 20     # a time `list` printed picks exactly that version
    assert versions.choose(kept, 25).at == 30
    with pytest.raises(Failed, match="what the master has now"):
        versions.choose(kept, 31)
    with pytest.raises(Failed):
        versions.choose([])


def test_expired_is_strictly_older_than_the_setting():
    now = 100 * DAY
    assert versions.expired([now - 3 * DAY, now - 2.5 * DAY, now - DAY], 2.5, now) == [now - 3 * DAY]


def test_locate_finds_the_mirrored_path_and_refuses_others():
    paths = ("/srv/www", "/srv/data")
    assert versions.locate(paths, "/srv/www/a/b.txt") == ("/srv/www", "a/b.txt")
    assert versions.locate(paths, "/srv/www/../data/x") == ("/srv/data", "x")
    for outside in ("/srv/www", "/srv/wwwx/a", "/etc/passwd", "/srv/www/../../etc/passwd"):
        assert versions.locate(paths, outside) is None


def test_backup_options_put_each_push_in_a_dated_folder_outside_the_tree():
    cfg = Config(path="t", node="b", nodes={"b": Node("b", "198.51.100.2", Role.SLAVE, None)},
                 paths=("/srv/www",), replication=Replication(keep_versions_days=7), state_dir="/var/lib/fmirror")
    opts = versions.backup_options(cfg, "/srv/www", stamps.parse("20250301T140502.123456Z"))
    assert opts == ["--backup", "--backup-dir=/var/lib/fmirror/versions/srv/www/20250301T140502.123456Z"]


def test_stamps_round_trip_and_iso_times_are_utc():
    t = stamps.parse("20250301T140502.123456Z")
    assert stamps.stamp(t) == "20250301T140502.123456Z"
    assert stamps.show(t) == "2025-03-01T14:05:02.123456Z"
    assert stamps.parse_time(stamps.show(t)) == t
    assert stamps.parse_time("2025-03-01T14:05:02") == stamps.parse_time("2025-03-01T14:05:02Z")
    assert stamps.parse_time("2025-03-01T15:05:02+01:00") == stamps.parse_time("2025-03-01T14:05:02Z")
    assert stamps.parse("versions") is None
    with pytest.raises(UsageError):
        stamps.parse_time("yesterday")


def test_put_request_parses_and_refuses_garbage():
    req = versions.parse_put(["--mode", "420", "--mtime-ns", "5", "--uid", "0", "--gid", "0", "--", "/srv/www/-x"])
    assert (req.mode, req.mtime_ns, req.path) == (0o644, 5, "/srv/www/-x")
    for bad in (["/srv/www/x"], ["--mode", "x", "--mtime-ns", "5", "--uid", "0", "--gid", "0", "/a"],
                ["--mode", "99999", "--mtime-ns", "5", "--uid", "0", "--gid", "0", "/a"]):
        with pytest.raises(ValueError):
            versions.parse_put(bad)


def test_receive_writes_atomically_with_mode_and_mtime(tmp_path):
    target = tmp_path / "new" / "f"
    req = versions.parse_put(["--mode", "384", "--mtime-ns", "1000000000000000000", "--uid", str(os.getuid()),
                              "--gid", str(os.getgid()), "x"])
    versions.receive(os.fsencode(target), io.BytesIO(b"hello"), req)
    st = target.stat()
    assert target.read_bytes() == b"hello" and st.st_mode & 0o7777 == 0o600
    assert st.st_mtime_ns == 10**18
    assert os.listdir(target.parent) == ["f"]      # no temp file left


def test_a_rename_over_a_file_keeps_the_file_it_replaces(tmp_path):
    cfg = Config(path="t", node="b", nodes={"b": Node("b", "198.51.100.2", Role.SLAVE, None)},
                 paths=(str(tmp_path / "www"),), replication=Replication(keep_versions_days=7),
                 state_dir=str(tmp_path / "state"))
    (tmp_path / "www" / "d").mkdir(parents=True)
    target = tmp_path / "www" / "d" / "index.html"
    target.write_text("old page")
    now = stamps.parse("20250301T140502.123456Z")
    versions.keep(cfg, cfg.paths[0], "d/index.html", os.fsencode(target), now)
    versions.keep(cfg, cfg.paths[0], "d", os.fsencode(tmp_path / "www" / "d"), now)       # a directory: nothing
    versions.keep(cfg, cfg.paths[0], "missing", os.fsencode(tmp_path / "www" / "missing"), now)
    [kept] = versions.versions_of(cfg, cfg.paths[0], "d/index.html")
    assert (kept.at, open(kept.path).read()) == (now, "old page")
    assert versions.versions_of(cfg, cfg.paths[0], "missing") == []
