"""A push leaves the files still being written out of the directories it sends (rsync.left_out_options), with real rsync.

Local to local: rsync runs no remote shell, the rules are the ones a push sends.
"""

from types import SimpleNamespace

from fmirror import process, rsync

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
