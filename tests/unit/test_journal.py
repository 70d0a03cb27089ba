"""The change journal: what is appended is read back, and the watcher never waits for a disk flush."""

import json
import os
import threading
import time

import pytest

from fmirror import journal as journal_mod
from fmirror.journal import Journal


def test_appended_changes_are_read_back_after_sync_and_numbering_goes_on(tmp_path):
    j = Journal(str(tmp_path))
    j.append(1, 0, b"a")
    j.append(2, 1, b"odd \xff name")
    j.sync()
    assert journal_mod.since(str(tmp_path), 1) == {(1, b"odd \xff name")}
    j.close()
    assert Journal(str(tmp_path)).last == 2


@pytest.mark.parametrize("rel", [b"burst/d0001/f00042", b"odd \xff\xfe name", "été".encode(), b'q"uo\\te\nnl\t'])
def test_a_record_is_the_line_json_dumps_writes(rel):
    t = round(time.time(), 3)
    expected = json.dumps({"s": 123456, "t": t, "r": 2, "p": os.fsdecode(rel)}) + "\n"
    assert journal_mod.record(123456, t, 2, rel) == expected


def test_appends_go_on_while_a_sync_waits_for_the_disk(tmp_path, monkeypatch):
    j = Journal(str(tmp_path))
    j.append(1, 0, b"a")
    flushing, release = threading.Event(), threading.Event()

    def slow_fsync(fd):     # a busy disk: the fsync takes its time
        flushing.set()
        release.wait(5)
    monkeypatch.setattr(journal_mod.os, "fsync", slow_fsync)
    syncer = threading.Thread(target=j.sync)
    syncer.start()
    assert flushing.wait(5)
    began = time.monotonic()
    j.append(2, 0, b"b")                 # the watcher's next change
    assert time.monotonic() - began < 1
    release.set()
    syncer.join(5)
    assert j.dirty                       # b came after the sync began: the next sync covers it


def test_a_failed_sync_is_tried_again(tmp_path, monkeypatch):
    j = Journal(str(tmp_path))
    j.append(1, 0, b"a")

    def broken(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(journal_mod.os, "fsync", broken)
    with pytest.raises(OSError):
        j.sync()
    assert j.dirty


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
def test_the_last_seq_is_read_from_the_end_past_a_torn_last_line(tmp_path, block):
    j = Journal(str(tmp_path))
    for seq in range(1, 40):
        j.append(seq, seq % 3, b"dir/file %d \xff" % seq)
    j.close()
    with open(tmp_path / journal_mod.NAME, "a") as f:
        f.write('{"s": 99, "t": 1.0, "r"')      # a crash mid-write
    assert journal_mod.last_seq(str(tmp_path), block) == 39
    assert Journal(str(tmp_path)).last == 39


def test_no_journal_or_no_whole_record_is_seq_zero(tmp_path):
    assert journal_mod.last_seq(str(tmp_path)) == 0
    (tmp_path / journal_mod.NAME).write_text('{"s": 5, "t"')
    assert journal_mod.last_seq(str(tmp_path), 4) == 0
