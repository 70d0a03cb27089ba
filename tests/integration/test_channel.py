"""A channel on handed descriptors (channel.handed): rsync as the daemon's child, the receive lock with it."""

import fcntl
import os
from types import SimpleNamespace

import pytest

from fmirror import channel, serve
from fmirror.errors import CommandError


def _pipes():
    """(the three descriptors a channel is handed, the ends the test keeps)."""
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    return (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r)


def _exclusive(cfg) -> bool:
    fd = serve.open_receive_lock(cfg)
    try:
        return serve.wait_exclusive(fd, 0)
    finally:
        os.close(fd)


def test_a_receive_holds_the_lock_while_it_runs_and_unlists_itself(tmp_path):
    cfg = SimpleNamespace(state_dir=str(tmp_path))
    handed, kept = _pipes()
    seen = []

    def look_then_finish(proc):
        # cat runs until its stdin closes: the look comes while it surely holds the lock.
        seen.append((_exclusive(cfg), os.listdir(channel.receivers_dir(cfg))))
        os.close(kept[0])

    chan = channel.handed(cfg, handed, 0o022, on_start=look_then_finish)
    status = chan.become(["cat"], lock_fd=serve.receive_lock(cfg, fcntl.LOCK_SH))
    assert status == 0
    (locked_out, listed), = seen
    assert not locked_out and len(listed) == 1
    assert os.listdir(channel.receivers_dir(cfg)) == [] and _exclusive(cfg)
    for fd in kept[1:]:
        os.close(fd)


def test_a_receiver_that_cannot_start_leaves_no_lock_behind(tmp_path):
    cfg = SimpleNamespace(state_dir=str(tmp_path))
    handed, kept = _pipes()
    chan = channel.handed(cfg, handed, 0o022)
    with pytest.raises(CommandError):
        chan.become(["/nonexistent/rsync"], lock_fd=serve.receive_lock(cfg, fcntl.LOCK_SH))
    # A lock left held by the daemon would block every later role change and snapshot.
    assert _exclusive(cfg)
    for fd in kept:
        os.close(fd)
