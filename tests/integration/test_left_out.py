"""A push leaves out what it must not send yet, with real rsync: the files still being written
(rsync.left_out_options) and what a new directory holds (rsync.batch_list).

Local to local: rsync runs no remote shell, the rules are the ones a push sends.
"""

import os
from types import SimpleNamespace

from fmirror import process, rsync
from fmirror.reach import Reach

NEW_DIR, PATH = Reach.NEW_DIR, Reach.PATH
SOME_NS = 1_600_000_000_123_456_789

CFG = SimpleNamespace(exclude=(), transport=SimpleNamespace(bwlimit_kbps=0, compress=False))


def _tree(root, names):
    (root / "new").mkdir(parents=True)
    for name in names:
        (root / "new" / name).write_text(name)


def _push(tmp_path, rels, left_out):
    src, dst = tmp_path / "src", tmp_path / "dst"
    dst.mkdir(exist_ok=True)
    argv = rsync.batch_argv(CFG, "ssh", "rsync", str(src), str(dst) + "/", left_out=left_out)
    process.run(argv, input=rsync.files_from(rels))
    return sorted(p.name for p in (dst / "new").iterdir())


def test_a_directory_sent_whole_leaves_out_exactly_the_files_being_written(tmp_path):
    # Wildcards in a name are matched literally: a*b must not keep aXXb back, nor c?d cXd.
    _tree(tmp_path / "src", ["done.txt", "growing.bin", "growing.bin.bak", "a*b", "aXXb", "c?d", "cXd", "e[f\\"])
    sent = _push(tmp_path, [b"new"], [b"new/growing.bin", b"new/a*b", b"new/c?d", b"new/e[f\\"])
    assert sent == ["aXXb", "cXd", "done.txt", "growing.bin.bak"]


def test_without_it_the_half_written_file_goes(tmp_path):
    _tree(tmp_path / "src", ["done.txt", "growing.bin"])
    assert _push(tmp_path, [b"new"], []) == ["done.txt", "growing.bin"]


def test_a_left_out_file_already_on_the_slave_is_neither_deleted_nor_updated(tmp_path):
    _tree(tmp_path / "src", ["done.txt", "growing.bin"])
    _tree(tmp_path / "dst", ["growing.bin", "stale.txt"])
    (tmp_path / "dst/new/growing.bin").write_text("the last complete version")
    assert _push(tmp_path, [b"new"], [b"new/growing.bin"]) == ["done.txt", "growing.bin"]
    assert (tmp_path / "dst/new/growing.bin").read_text() == "the last complete version"


def test_too_many_to_name_are_sent_as_before():
    assert rsync.left_out_options([b"f%d" % i for i in range(rsync.MAX_LEFT_OUT + 1)]) == []


def _push_batch(tmp_path, rels):
    """A batch {rel: Reach} pushed as the pusher does: batch_list, then batch_argv."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    dst.mkdir(exist_ok=True)
    listed, alone = rsync.batch_list(rels, lambda rel: (src / os.fsdecode(rel)).is_dir())
    argv = rsync.batch_argv(CFG, "ssh", "rsync", str(src), str(dst) + "/", alone=alone)
    process.run(argv, input=rsync.files_from(listed))
    return sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))


def test_a_new_directory_goes_alone_with_its_attributes_and_none_of_what_it_holds(tmp_path):
    # The files in it may be half written: they are queued paths of their own.
    for name in ("new", "a*b", "c\\d"):
        _tree(tmp_path / "src" / name, ["growing.bin"])
        os.utime(tmp_path / "src" / name / "new", ns=(SOME_NS, SOME_NS))
    sent = _push_batch(tmp_path, {b"new/new": NEW_DIR, b"a*b/new": NEW_DIR, b"c\\d/new": NEW_DIR})
    assert sent == ["a*b", "a*b/new", "c\\d", "c\\d/new", "new", "new/new"]
    assert (tmp_path / "dst/new/new").stat().st_mtime_ns == SOME_NS


def test_a_new_directory_with_a_file_listed_in_it_is_made_as_its_implied_directory(tmp_path):
    _tree(tmp_path / "src", ["done.txt", "growing.bin"])
    os.utime(tmp_path / "src/new", ns=(SOME_NS, SOME_NS))
    assert _push_batch(tmp_path, {b"new": NEW_DIR, b"new/done.txt": PATH}) == ["new", "new/done.txt"]
    assert (tmp_path / "dst/new").stat().st_mtime_ns == SOME_NS


def test_a_new_directory_gone_again_is_deleted_there_whole(tmp_path):
    (tmp_path / "src").mkdir()
    _tree(tmp_path / "dst", ["pushed.txt"])
    assert _push_batch(tmp_path, {b"new": NEW_DIR}) == []
