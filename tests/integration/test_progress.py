"""rsync's own progress, read while it runs (real rsync, local transfer slowed down)."""

import os
import threading

import pytest

from fmirror import process, progress


def test_parse_progress2_line():
    p = progress.parse(b"     12,345,678  45%   12.34MB/s    0:00:12 (xfr#5, to-chk=100/200)")
    assert p == (12345678, 45, "12.34MB/s", "0:00:12", 100, 200)
    assert "45%" in progress.describe(p) and "100/200 files" in progress.describe(p)
    assert progress.parse(b"sending incremental file list") is None


def test_progress_is_reported_while_rsync_runs(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    seen = []
    argv = ["rsync", "-a", "--bwlimit=1500", "--info=progress2", "--no-inc-recursive", "--stats",
            f"{src}/", f"{dst}/"]
    result = progress.run(argv, seen.append)
    assert result.returncode == 0
    assert len(seen) >= 2 and seen[-1][1] == 100
    assert b"Total bytes sent" in result.stdout
    assert (dst / "big").read_bytes() == (src / "big").read_bytes()


def test_a_cancelled_run_stops_rsync(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(4 * 1024 * 1024))
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(process.Cancelled):
        progress.run(["rsync", "-a", "--bwlimit=500", "--info=progress2", f"{src}/", f"{tmp_path}/dst/"],
                     lambda p: None, cancel=cancel)


def test_large_input_reaches_a_cancellable_command_whole():
    # A --files-from list of thousands of paths is far larger than a pipe buffer.
    # The reader starts late, so the pipe is full long before the input is all written.
    data = b"x" * (2 * 1024 * 1024)
    result = process.run(["sh", "-c", "sleep 0.5; exec wc -c"], input=data, cancel=threading.Event(), timeout=20)
    assert int(result.stdout) == len(data)


def test_a_cancelled_command_is_stopped():
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(process.Cancelled):
        process.run(["sleep", "30"], cancel=cancel)
