"""The deletion brake's decisions, with a fake rsync: what runs, what is held, when it lets go."""

import pytest

from fmirror import brake
from fmirror.process import Result


class FakeRsync:
    """Answers a push like rsync on a slave that has `extra` files the master no longer has."""

    def __init__(self, extra):
        self.extra = extra
        self.calls = []

    def __call__(self, options):
        self.calls.append(list(options))
        limit = next((int(o.split("=")[1]) for o in options if o.startswith("--max-delete=")), None)
        skipped = 0 if limit is None else max(0, self.extra - limit)
        self.extra = skipped           # it deleted all it was allowed to
        err = f"Deletions stopped due to --max-delete limit ({skipped} skipped)\n".encode() if skipped else b""
        return Result(["rsync"], 25 if skipped else 0, b"", err)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _guard(limit=100, clock=None):
    engaged = []
    g = brake.Guard(limit, on_engaged=engaged.append, clock=clock or Clock(), wall=lambda: 5.0)
    return g, engaged


def test_over_limit_counts_the_window_and_the_operators_allowance():
    assert not brake.over_limit(100, 0, 100)
    assert brake.over_limit(101, 0, 100)
    assert brake.over_limit(60, 50, 100)
    assert not brake.over_limit(150, 0, 100, allowance=50)


def test_without_a_limit_or_anything_to_delete_one_plain_push_runs():
    g, _ = _guard(limit=0)
    run = FakeRsync(5000)
    assert g.push("/srv/www", run)
    assert run.calls == [[]] and run.extra == 0
    g, _ = _guard()
    run = FakeRsync(0)
    assert g.push("/srv/www", run, may_delete=False)
    assert run.calls == [[]]


def test_deletions_within_the_limit_go_through_in_a_second_run():
    g, engaged = _guard()
    run = FakeRsync(40)
    assert g.push("/srv/www", run)
    assert run.calls == [["--max-delete=0"], ["--max-delete=100"]]
    assert run.extra == 0 and engaged == [] and g.status() == []


def test_no_deletion_needed_means_a_single_run():
    g, _ = _guard()
    run = FakeRsync(0)
    assert g.push("/srv/www", run)
    assert run.calls == [["--max-delete=0"]]


def test_a_mass_deletion_engages_the_brake_and_deletes_nothing():
    g, engaged = _guard()
    run = FakeRsync(5000)
    assert not g.push("/srv/www", run)
    assert run.calls == [["--max-delete=0"]] and run.extra == 5000
    assert [(e.path, e.deletes, e.since) for e in engaged] == [("/srv/www", 5000, 5.0)]
    assert g.status() == [{"path": "/srv/www", "deletes": 5000, "since": 5.0, "held": False}]


def test_while_engaged_every_push_keeps_its_deletions_and_other_paths_flow():
    g, engaged = _guard()
    g.push("/srv/www", FakeRsync(5000))
    small = FakeRsync(3)
    assert not g.push("/srv/www", small)          # even a small deletion waits now
    assert small.calls == [["--max-delete=0"]] and small.extra == 3
    assert g.status()[0]["deletes"] == 5003
    other = FakeRsync(3)
    assert g.push("/srv/data", other) and other.extra == 0
    assert len(engaged) == 1                        # the event fires once


def test_deletions_spread_over_pushes_within_the_window_add_up():
    clock = Clock()
    g, engaged = _guard(clock=clock)
    assert g.push("/srv/www", FakeRsync(60))
    clock.now += 30
    assert not g.push("/srv/www", FakeRsync(60))   # 120 within a minute
    assert engaged and engaged[0].deletes == 60
    g2, _ = _guard(clock=clock)
    assert g2.push("/srv/www", FakeRsync(60))
    clock.now += brake.WINDOW + 1
    assert g2.push("/srv/www", FakeRsync(60))      # the first 60 are out of the window


def test_release_lets_the_paused_deletions_through_once():
    g, engaged = _guard()
    g.push("/srv/www", FakeRsync(5000))
    released = g.release()
    assert [r["deletes"] for r in released] == [5000] and g.status() == []
    run = FakeRsync(5000)
    assert g.push("/srv/www", run, full=True)
    assert run.extra == 0
    # Once: a new mass deletion brakes again.
    assert not g.push("/srv/www", FakeRsync(5000))
    assert len(engaged) == 2


def test_a_full_reconciliation_with_nothing_to_delete_lets_go():
    g, _ = _guard()
    g.push("/srv/www", FakeRsync(5000))
    assert not g.push("/srv/www", FakeRsync(4000), full=True)   # still missing on the master
    assert g.status()[0]["deletes"] == 4000
    assert g.push("/srv/www", FakeRsync(0), full=True)          # the files are back
    assert g.status() == []


def test_deletions_that_appear_between_the_two_runs_engage_the_brake():
    g, engaged = _guard()

    class Growing(FakeRsync):
        def __call__(self, options):
            if len(self.calls) == 1:
                self.extra += 500                     # rm -rf went on meanwhile
            return super().__call__(options)
    run = Growing(50)
    assert not g.push("/srv/www", run)
    assert run.calls == [["--max-delete=0"], ["--max-delete=100"]]
    assert engaged[0].deletes == 550


def test_deletions_lists_the_paths_gone_and_notices_directories(tmp_path):
    (tmp_path / "here").write_text("x")
    (tmp_path / "dir").mkdir()
    gone, dirs = brake.deletions(str(tmp_path), [b"here", b"gone", b"here/below"])
    assert gone == [b"gone", b"here/below"] and not dirs
    assert brake.deletions(str(tmp_path), [b"dir", b"here"]) == ([], True)


def test_a_push_that_needs_a_held_deletion_fails_and_is_retried_whole():
    # A non-empty directory replaced by a file: its contents must go first, and rsync says 23.
    g, engaged = _guard()
    blocked = Result(["rsync"], 23, b"", b"Deletions stopped due to --max-delete limit (500 skipped)\n")
    with pytest.raises(brake.Blocked):
        g.push("/srv/www", lambda options: blocked)
    with pytest.raises(brake.Blocked):
        g.push("/srv/www", lambda options: blocked)
    assert len(engaged) == 1 and g.status()[0]["deletes"] == 500    # the retry is not counted twice


def test_within_the_limit_a_blocked_first_run_goes_on_to_delete():
    g, _ = _guard()
    runs = []

    def run(options):
        runs.append(options)
        if options == ["--max-delete=0"]:
            return Result(["rsync"], 23, b"", b"Deletions stopped due to --max-delete limit (3 skipped)\n")
        return Result(["rsync"], 0, b"", b"")
    assert g.push("/srv/www", run)
    assert runs == [["--max-delete=0"], ["--max-delete=100"]]
