"""`fmirror serve` as the ssh forced command: what a peer's key may and may not do."""

import json

import pytest

from fmirror.lab import mirror as lab_mirror
from fmirror.lab.wait import wait_until

PUSH = "fmirror/1 push --epoch {epoch} --from master -- --server -logDtpre.iLsfxCIvu --delete . {dest}"


def _setup(mirror_factory):
    mirror = mirror_factory()
    return mirror


@pytest.fixture(params=["forced command", "daemon"])
def served(request, mirror_factory):
    """A mirror whose slave serves pushes and renames itself, or (daemon) hands them to its running daemon."""
    mirror = mirror_factory()
    mirror.handed = request.param == "daemon"
    if mirror.handed:
        mirror.lab.start_daemon("slave")
        wait_until(lambda: _handoff(mirror) is not None, 30, "the slave daemon's hand-over socket")
    yield mirror
    if mirror.handed:
        # The requests above went the way this parameter says.
        assert _handoff(mirror)["served"] > 0 and _handoff(mirror)["declined"] == 0


def _handoff(mirror):
    result = mirror.lab.fmirror("slave", "status", "--json")
    return json.loads(result.stdout).get("handoff") if result.returncode == 0 else None


def _serve(mirror, command):
    return mirror.lab.ssh("master", "slave", command)


def _set_slave_state(mirror, **changes):
    path = mirror.slave.path("/var/lib/fmirror/state.json")
    data = json.loads(path.read_text()) if path.exists() else {
        "fmirror_state": 1, "node": "slave", "role": "slave", "epoch": 1, "role_since": 0, "peers": {}}
    data.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_serve_answers_state_queries(mirror_factory):
    mirror = _setup(mirror_factory)
    result = _serve(mirror, "fmirror/1 state")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**json.loads(result.stdout), "node": "slave", "role": "slave"}


def test_serve_refuses_anything_but_fmirror_requests(mirror_factory):
    mirror = _setup(mirror_factory)
    result = _serve(mirror, "cat /etc/shadow")
    assert result.returncode == 3
    assert b"may only be used by fmirror" in result.stderr
    assert result.stdout == b""


def test_serve_refuses_a_path_outside_paths(served):
    mirror = served
    for dest in ("/etc/", "/srv/www/../../etc/", "/srv/"):
        result = _serve(mirror, PUSH.format(epoch=1, dest=dest))
        assert result.returncode == 3, (dest, result.stderr)
        assert b"is not a mirrored path" in result.stderr


def test_serve_refuses_a_lower_epoch_and_the_master_shows_it(mirror_factory):
    mirror = _setup(mirror_factory)
    _set_slave_state(mirror, epoch=5)
    result = _serve(mirror, PUSH.format(epoch=1, dest="/srv/www/"))
    assert result.returncode == 3
    assert b"sender epoch 1 is lower than this node's epoch 5" in result.stderr
    # A real master's pushes are refused too, and it says so in its status.
    lab_mirror.install(mirror.lab, mirror.cfg)
    mirror.lab.start_daemon("slave")
    mirror.lab.start_daemon("master")
    (mirror.m() / "refused").write_text("x")

    # A slave at a higher epoch also means a newer master exists: the master either
    # shows the refusal or has already suspended itself (the slave's first check of
    # the master tells it its epoch, often before the first push).
    # Waited for as one: between the refusal and the suspension its status, its pushers
    # stopping, names no slaves for a moment.
    def shown():
        st = mirror.status()
        return st["role"] == "suspended" or st.get("slaves", {}).get("slave", {}).get("state") == "refused"
    wait_until(shown, 30, "the refusal in the master's status, or the master suspended")
    assert not (mirror.s() / "refused").exists()


def test_serve_hears_a_restored_node_only_as_the_master(served):
    # A restore ends by telling the master (a node of a higher epoch) that it follows now;
    # with a daemon running it hears that itself, since the restore waits for the answer.
    rejoined = "fmirror/1 rejoined --epoch {epoch} --from master"
    result = _serve(served, rejoined.format(epoch=1))
    assert result.returncode == 3 and b"this node is slave, not the master" in result.stderr, result.stderr
    _set_slave_state(served, role="master", epoch=2)
    result = _serve(served, rejoined.format(epoch=2))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True}


def test_serve_refuses_a_push_to_a_node_that_is_master(served):
    mirror = served
    _set_slave_state(mirror, role="master")
    result = _serve(mirror, PUSH.format(epoch=1, dest="/srv/www/"))
    assert result.returncode == 3
    assert b"this node is master, not a slave" in result.stderr


def test_only_the_daemon_parks_a_push_opened_ahead(served):
    mirror = served
    ticketed = PUSH.replace(" -- ", " --ticket {ticket} -- ")
    if not mirror.handed:
        result = _serve(mirror, ticketed.format(epoch=1, ticket="0" * 32, dest="/srv/www/"))
        assert result.returncode == 3 and b"needs this node's daemon" in result.stderr, result.stderr
    result = _serve(mirror, ticketed.format(epoch=1, ticket="../x", dest="/srv/www/"))
    assert result.returncode == 3, result.stderr
    # A go sent the ordinary way (not over a link to the daemon) finds nothing to send.
    go = _serve(mirror, "fmirror/1 go --epoch 1 --from master " + "0" * 32)
    assert go.returncode == 0 and json.loads(go.stdout) is False, go.stderr


def test_serve_renames_only_inside_paths(served):
    mirror = served
    (mirror.s() / "a").write_text("a")
    ok = mirror.lab.ssh("master", "slave", "fmirror/1 rename --epoch 1 --from master",
                        input=json.dumps([["/srv/www", "a", "b", [["", 10 ** 18]]]]).encode())
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == [True] and (mirror.s() / "b").exists()
    # The master's mtime of the directory the rename touched (here the root) is set after it.
    assert mirror.s().stat().st_mtime_ns == 10 ** 18
    bad = mirror.lab.ssh("master", "slave", "fmirror/1 rename --epoch 1 --from master",
                         input=json.dumps([["/srv/www", "b", "../../../etc/x", []]]).encode())
    assert bad.returncode == 3 and b"escapes" in bad.stderr
    for times in ([["../..", 1]], [["", "soon"]], "soon", [["b"]]):
        bad = mirror.lab.ssh("master", "slave", "fmirror/1 rename --epoch 1 --from master",
                             input=json.dumps([["/srv/www", "b", "c", times]]).encode())
        assert bad.returncode == 3 and (mirror.s() / "b").exists(), bad.stderr
    # A file's mtime is never set by a rename: it tells rsync whether the content is there.
    (mirror.s() / "f").write_text("f")
    before = (mirror.s() / "f").stat().st_mtime_ns
    nodir = mirror.lab.ssh("master", "slave", "fmirror/1 rename --epoch 1 --from master",
                           input=json.dumps([["/srv/www", "b", "c", [["f", 1]]]]).encode())
    assert json.loads(nodir.stdout) == [False] and (mirror.s() / "f").stat().st_mtime_ns == before
