"""The hand-over of a push to the running daemon: the forced command's parsing, the request, the daemon's choice."""

import io
import logging
import os

from fmirror import channel, handoff, locations, resident
from fmirror.errors import ExitCode

PUSH = "fmirror/1 push --epoch 3 --from alpha -- --server -logDtpre.iLsfxCIvu . /srv/www/"


def test_serve_with_a_push_is_handed_over_with_its_config_and_node():
    assert handoff.parse(["serve"], PUSH) == (None, None)
    assert handoff.parse(["-c", "/x.yaml", "serve"], PUSH) == ("/x.yaml", None)
    assert handoff.parse(["--config=/x.yaml", "--node", "beta", "serve"], PUSH) == ("/x.yaml", "beta")
    assert handoff.parse(["serve"], "fmirror/1 rename --epoch 3 --from alpha") == (None, None)


def test_anything_else_takes_the_full_path():
    assert handoff.parse(["serve"], None) is None
    assert handoff.parse(["serve"], "fmirror/1 demote --epoch 4 --from beta") is None   # a role change
    assert handoff.parse(["serve"], "cat /etc/shadow") is None           # the full path refuses it
    assert handoff.parse(["--debug", "serve"], PUSH) is None
    assert handoff.parse(["-c"], PUSH) is None
    assert handoff.parse(["-c=/x.yaml", "serve"], PUSH) is None
    assert handoff.parse(["serve", "extra"], PUSH) is None
    assert handoff.parse(["status"], PUSH) is None


def test_the_request_reads_back_as_sent():
    message = handoff.encode("/etc/fmirror/fmirror.yaml", "beta", PUSH)
    assert int(message[:8], 16) == len(message) - 8
    request = resident.decode(message[8:])
    assert request == resident.Request("/etc/fmirror/fmirror.yaml", "beta", PUSH)
    assert request.verb == "push"
    assert resident.decode(handoff.encode("/x.yaml", None, PUSH)[8:]).node is None
    assert resident.decode(message[8:].replace(handoff.VERSION, b"9", 1)) is None
    assert resident.decode(b"garbage") is None


def _loaded(stamp=(1, 2, 3, 4, 5), node=None):
    return resident.Loaded(cfg=None, stamp=stamp, node=node)


def test_the_daemon_takes_a_push_only_with_the_configuration_it_read():
    push = resident.Request("/etc/fmirror/fmirror.yaml", None, PUSH)
    assert resident.decline(push, _loaded(), (1, 2, 3, 4, 5)) is None
    assert "changed since" in resident.decline(push, _loaded(), (1, 2, 3, 9, 9))
    assert "changed since" in resident.decline(push, _loaded(), None)
    assert "changed since" in resident.decline(push, _loaded(stamp=None), None)
    assert "--node" in resident.decline(push, _loaded(node="beta"), (1, 2, 3, 4, 5))
    demote = resident.Request("/etc/fmirror/fmirror.yaml", None, "fmirror/1 demote --epoch 4 --from b")
    assert "not served" in resident.decline(demote, _loaded(), (1, 2, 3, 4, 5))


def test_a_config_file_edit_changes_its_stamp(tmp_path):
    path = tmp_path / "fmirror.yaml"
    path.write_text("a: 1\n")
    before = locations.config_stamp(str(path))
    os.utime(path, ns=(0, 10 ** 9))
    assert locations.config_stamp(str(path)) != before
    assert locations.config_stamp(str(tmp_path / "missing.yaml")) is None


def test_an_exec_answer_is_whole_only_with_its_whole_argv():
    argv = ["rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/srv/a\nb/"]   # a newline in a path, too
    answer = handoff.exec_answer(argv)
    assert all(not handoff.complete(answer[:n]) for n in range(len(answer)))
    assert handoff.complete(answer)
    assert answer[len(handoff.EXEC) + 8:].split(b"\0") == [os.fsencode(a) for a in argv]
    assert handoff.complete(b"exit 23\n") and not handoff.complete(b"exit 2")
    assert handoff.complete(b"exec zzzzzzzz")     # not ours: taken whole, and exec fails on it


def test_each_config_file_has_its_own_short_socket():
    a = locations.handoff_socket("/etc/fmirror/fmirror.yaml")
    assert a == locations.handoff_socket("/etc/fmirror/fmirror.yaml")
    assert a != locations.handoff_socket("/srv/other/fmirror.yaml")
    assert os.path.dirname(a) == locations.RUN_DIR and len(a) < 100


def test_a_requester_gone_before_the_answer_is_no_internal_error(caplog):
    # The ssh session ended (its reader closed) while the daemon was still on
    # the request: saying why it was refused breaks the pipe. Nobody is left
    # to tell; that is not a daemon failure to log with a traceback.
    read_end, write_end = os.pipe()
    os.close(read_end)
    chan = channel.Channel(io.BytesIO(), io.BytesIO(), open(write_end, "wb", buffering=0), become=None)
    with caplog.at_level(logging.DEBUG, logger="fmirror.resident"):
        status = resident.answer(None, "fmirror/1 no-such-request", chan)
    assert status == ExitCode.FAILED
    assert [r.levelname for r in caplog.records] == ["DEBUG"]
    chan.stderr.close()
