"""A channel on handed descriptors (channel.handed): the forced command that handed them becomes rsync, with the lock."""

import fcntl
import os
import socket
import subprocess
import sys
import threading
from types import SimpleNamespace

from fmirror import channel, resident, serve
from fmirror.lab.wait import wait_until

# The forced command's side after its request went over (handoff.attempt): do as the daemon answers.
REQUESTER = """
import sys, _socket
from fmirror import handoff
sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
sock.connect(sys.argv[1])
sys.exit(handoff.follow(sock))
"""


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


def _close(fds):
    for fd in fds:
        os.close(fd)


def test_the_requester_becomes_the_receiver_and_holds_the_lock_until_it_ends(tmp_path):
    cfg = SimpleNamespace(state_dir=str(tmp_path / "state"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "handoff.sock"))
    listener.listen(1)
    # cat, as the receiver: it runs until the test closes its stdin.
    requester = subprocess.Popen([sys.executable, "-c", REQUESTER, str(tmp_path / "handoff.sock")],
                                 stdin=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(channel.__file__)))
    conn, _ = listener.accept()
    handed, kept = _pipes()
    chan = channel.handed(cfg, handed, resident.Requester(conn))
    daemon = threading.Thread(target=chan.become, args=(["cat"], serve.receive_lock(cfg, fcntl.LOCK_SH)))
    try:
        daemon.start()
        folder = channel.receivers_dir(cfg)
        wait_until(lambda: os.path.isdir(folder) and os.listdir(folder), 10, "the receive listed")
        wait_until(lambda: open(f"/proc/{requester.pid}/cmdline", "rb").read() == b"cat\0", 10,
                   "the requester become cat")
        # The daemon closed its copy of the lock: the receiver's alone holds it.
        assert os.listdir(folder) == [str(requester.pid)] and not _exclusive(cfg)
        assert daemon.is_alive()         # waiting for the receive's end, to unlist it
        requester.stdin.close()
        assert requester.wait(10) == 0   # the receiver's own status, to sshd in real life
        daemon.join(10)
        assert not daemon.is_alive()
        assert os.listdir(folder) == [] and _exclusive(cfg)
    finally:
        if requester.poll() is None:
            requester.kill()
            requester.wait()
        conn.close()
        listener.close()
        _close(kept)


def test_a_requester_gone_before_the_answer_leaves_no_lock_and_no_listing(tmp_path):
    cfg = SimpleNamespace(state_dir=str(tmp_path))
    ours, theirs = socket.socketpair()
    theirs.close()
    handed, kept = _pipes()
    chan = channel.handed(cfg, handed, resident.Requester(ours))
    try:
        chan.become(["rsync", "--server"], lock_fd=serve.receive_lock(cfg, fcntl.LOCK_SH))
    except OSError:
        pass        # resident.serve_one takes it: nobody is left to tell
    else:
        raise AssertionError("the answer reached nobody, yet no error")
    # A lock left held by the daemon would block every later role change and snapshot.
    assert _exclusive(cfg) and os.listdir(channel.receivers_dir(cfg)) == []
    ours.close()
    _close(kept)
