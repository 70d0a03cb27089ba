import threading

import pytest

from fmirror.changes import (BURST_GATHER, BURST_PATHS, FOUND_SETTLE, NEW_DIR_SETTLE, SETTLED_SCAN, WRITE_SETTLE,
                             ChangeLog, merged_reach)
from fmirror.reach import Reach, Written

PATH, NEW_DIR, TREE = Reach.PATH, Reach.NEW_DIR, Reach.TREE
OPEN = Written.OPEN


def test_change_leaves_queue_only_after_ack():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", PATH)
    batch = log.take("beta", 100)
    assert batch.paths == {0: {b"a": PATH}}
    assert log.unsent("beta")[0] == 1
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert log.unsent("beta")[0] == 0


def test_change_during_push_stays_queued():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", PATH)
    batch = log.take("beta", 100)
    log.changed(0, b"a", PATH)          # written again while the push runs
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert log.unsent("beta")[0] == 1


def test_failed_push_keeps_everything():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", PATH)
    log.deleted(0, b"b")
    log.take("beta", 100)
    log.done("beta")                      # no ack: rsync failed
    assert log.unsent("beta")[0] == 2


def test_one_slave_ack_does_not_ack_another():
    log = ChangeLog(["beta", "gamma"])
    log.changed(0, b"a", PATH)
    batch = log.take("beta", 100)
    log.ack_paths("beta", batch, 0)
    assert log.unsent("beta")[0] == 0
    assert log.unsent("gamma")[0] == 1


def test_full_sync_covers_changes_before_it_started_only():
    log = ChangeLog(["beta"])
    log.changed(0, b"old", PATH)
    log.full_sync_needed("test")
    batch = log.take("beta", 100)
    assert batch.full
    log.changed(0, b"new", PATH)
    log.ack_full("beta", batch)
    log.done("beta")
    count, _, full = log.unsent("beta")
    assert (count, full) == (1, False)


def test_rename_marks_both_ends_and_tree():
    log = ChangeLog(["beta"])
    log.renamed(0, b"d1", b"d2", True)
    batch = log.take("beta", 100)
    assert [(r.old, r.new) for r in batch.renames] == [(b"d1", b"d2")]
    assert batch.paths == {0: {b"d1": PATH, b"d2": TREE}}


def _settled(log, root, old, new, is_dir):
    log.renamed(root, old, new, is_dir)
    return log.queues["beta"].renames[-1].settled


def _synced(*paths):
    log = ChangeLog(["beta"])
    for rel in paths:
        log.changed(0, rel, PATH)
    batch = log.take("beta", 100)
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    return log


def test_rename_of_what_is_on_the_slave_is_settled():
    assert _settled(_synced(b"d/f"), 0, b"d", b"e", True)
    assert _settled(_synced(b"f"), 0, b"f", b"g", False)


def test_rename_with_anything_unsent_at_above_or_under_it_is_not_settled():
    log = ChangeLog(["beta"])
    log.changed(0, b"tmp", PATH)            # an editor's save: written, then renamed over the file
    assert not _settled(log, 0, b"tmp", b"file", False)
    log = ChangeLog(["beta"])
    log.changed(0, b"d/sub/f", PATH)
    assert not _settled(log, 0, b"d", b"e", True)
    assert _settled(log, 1, b"d", b"e", True)   # another root's d
    log = ChangeLog(["beta"])
    log.changed(0, b"new", TREE)             # a directory not pushed yet, and a file moved inside it
    assert not _settled(log, 0, b"new/f", b"new/g", False)
    log = ChangeLog(["beta"])
    log.changed(0, b"", TREE)
    assert not _settled(log, 0, b"f", b"g", False)
    log = ChangeLog(["beta"])
    log.full_sync_needed("start")
    assert not _settled(log, 0, b"f", b"g", False)


def test_a_directory_rename_in_a_burst_is_not_settled():
    log = _synced()
    for i in range(SETTLED_SCAN + 1):
        log.changed(0, b"other/f%d" % i, PATH)
    assert not _settled(log, 0, b"d", b"e", True)
    assert _settled(log, 0, b"f", b"g", False)   # a file has nothing under it to look for


def test_an_applied_settled_rename_needs_no_push():
    log = _synced(b"d/f")
    log.renamed(0, b"d", b"e", True)
    log.changed(0, b"x", PATH)
    batch = log.take("beta", 100)
    log.ack_moved("beta", batch, batch.renames[0])
    assert batch.paths == {0: {b"x": PATH}}
    assert log.unsent("beta")[0] == 2        # x and the rename itself, until ack_rename


def test_a_path_changed_after_its_rename_is_still_pushed():
    log = _synced(b"f")
    log.renamed(0, b"f", b"g", False)
    log.changed(0, b"g", PATH)              # written again after the move
    batch = log.take("beta", 100)
    log.ack_moved("beta", batch, batch.renames[0])
    assert batch.paths == {0: {b"g": PATH}}


def test_max_batch_limits_paths_per_push():
    log = ChangeLog(["beta"])
    for i in range(10):
        log.changed(0, b"f%d" % i, PATH)
    batch = log.take("beta", 4)
    assert sum(len(v) for v in batch.paths.values()) == 4


def test_wait_acked_is_a_barrier():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", PATH)
    barrier = log.current()
    assert not log.wait_acked(barrier, 0.05)
    batch = log.take("beta", 100)
    threading.Timer(0.1, lambda: log.ack_paths("beta", batch, 0)).start()
    assert log.wait_acked(barrier, 5)


def test_push_is_due_only_after_delay():
    log = ChangeLog(["beta"], delay=0.2)
    q = log.queues["beta"]
    log.changed(0, b"a", PATH)
    first = q.entries[(0, b"a")].since
    assert q.due_at() == first + 0.2


def test_held_deletion_stays_unsent_but_is_not_due_or_taken():
    log = ChangeLog(["beta"])
    log.deleted(0, b"gone")
    log.changed(0, b"new", PATH)
    batch = log.take("beta", 100)
    log.hold("beta", batch, 0, [b"gone"])
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert log.unsent("beta")[0] == 1 and log.held("beta", 0) == 1
    assert log.queues["beta"].due_at() is None
    assert log.take("beta", 100).paths == {}
    log.done("beta")
    full = log.take("beta", 100)
    log.ack_full("beta", full)                    # a full reconciliation under the brake keeps it too
    log.done("beta")
    assert log.unsent("beta")[0] == 1
    assert log.acked("beta") < log.current()


def test_unhold_makes_held_deletions_due_and_a_new_change_frees_one():
    log = ChangeLog(["beta"])
    log.deleted(0, b"a")
    log.deleted(0, b"b")
    batch = log.take("beta", 100)
    log.hold("beta", batch, 0, [b"a", b"b"])
    log.done("beta")
    log.changed(0, b"a", PATH)                   # restored on the master: pushed as usual
    assert log.held("beta", 0) == 1
    assert log.queues["beta"].due_at() is not None
    assert log.take("beta", 100).paths == {0: {b"a": PATH}}
    log.done("beta")
    assert log.unhold("beta", 0) == 1
    assert set(log.take("beta", 100).paths[0]) == {b"a", b"b"}


def test_full_sync_for_one_slave_only():
    log = ChangeLog(["beta", "gamma"])
    log.full_sync_needed("brake", slave="beta")
    assert log.unsent("beta")[2] and not log.unsent("gamma")[2]


def test_due_time_follows_takes_and_pushes_without_rescanning():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    for i in range(3):
        log.changed(0, b"f%d" % i, PATH)
    assert q.due_at() == q.entries[(0, b"f0")].since
    batch = log.take("beta", 2)               # two taken, one left for the next push
    assert q.due_at() is None                # nothing is due while a push runs...
    log.changed(0, b"f0", PATH)              # ...until something changes again
    assert q.due_at() == q.entries[(0, b"f0")].since
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    # f0 (changed again) and f2 (not taken) are due; f1 went through.
    assert set(q.entries) == {(0, b"f0"), (0, b"f2")}
    assert q.due_at() == min(e.since for e in q.entries.values())


def test_a_file_still_being_written_waits_for_its_close_at_most_the_settle_time():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"big", PATH, OPEN)
    since = q.entries[(0, b"big")].since
    assert q.due_at() == since + WRITE_SETTLE
    log.changed(0, b"big", PATH)                  # closed: due at once (delay 0)
    assert q.due_at() == since


def test_a_file_a_walk_found_waits_a_moment_and_for_its_close_once_written_again():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"new/f", PATH, Written.FOUND)
    since = q.entries[(0, b"new/f")].since
    assert q.due_at() == since + FOUND_SETTLE
    log.changed(0, b"new/f", PATH, OPEN)           # its writer still has it: an IN_MODIFY
    assert q.due_at() == since + WRITE_SETTLE


@pytest.mark.parametrize("old,new,merged", [
    (None, NEW_DIR, NEW_DIR),
    (NEW_DIR, NEW_DIR, NEW_DIR),    # reported again (by its parent's walk and its own event)
    (NEW_DIR, PATH, PATH),          # deleted or moved away...
    (PATH, NEW_DIR, TREE),          # ...then made again: the slave may hold what the old one held
    (TREE, NEW_DIR, TREE),
    (NEW_DIR, TREE, TREE),
    (TREE, PATH, TREE),
    (PATH, PATH, PATH),
])
def test_a_new_directory_goes_alone_only_while_no_other_stood_at_its_name(old, new, merged):
    assert merged_reach(old, new) is merged


def test_a_batch_carries_what_each_path_covers():
    log = ChangeLog(["beta"])
    log.changed(0, b"d", NEW_DIR)
    log.changed(0, b"d/f", PATH, Written.FOUND)
    log.deleted(0, b"gone")
    log.changed(0, b"gone", NEW_DIR)
    q = log.queues["beta"]
    q.entries[(0, b"d/f")].settle = 0.0            # closed by now
    assert log.take("beta", 100).paths == {0: {b"d": NEW_DIR, b"d/f": PATH, b"gone": TREE}}


def test_a_push_leaves_out_a_file_being_written_and_its_settle_time_runs_on():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"log", PATH, OPEN)
    log.changed(0, b"done", PATH)
    batch = log.take("beta", 100)
    assert batch.paths == {0: {b"done": PATH}}
    assert batch.writing == {0: [b"log"]}          # named, so a directory sent whole leaves it out too
    since = q.entries[(0, b"log")].since
    log.changed(0, b"log", PATH, OPEN)    # written to again while the push runs
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert q.entries[(0, b"log")].since == since   # not pushed back: a file always open still goes
    assert q.due_at() == since + WRITE_SETTLE


def _aged(q, *rels):
    """As if each of these entries had waited out its settle time."""
    for rel in rels:
        e = q.entries[(0, rel)]
        e.since -= e.settle
    q.stale = True


def test_a_new_directory_waits_a_moment_for_what_is_written_into_it_then_goes_alone():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"d", NEW_DIR)
    since = q.entries[(0, b"d")].since
    assert q.due_at() == since + NEW_DIR_SETTLE
    assert log.take("beta", 100).empty            # taken early (another path was due): held
    log.done("beta")
    assert q.due_at() == since + NEW_DIR_SETTLE
    _aged(q, b"d")
    assert log.take("beta", 100).paths == {0: {b"d": NEW_DIR}}


def test_a_new_directory_held_while_settling_is_due_when_its_moment_is_over_even_during_a_long_push():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"f", PATH)
    log.changed(0, b"d", NEW_DIR)
    batch = log.take("beta", 100)                  # f is due at once; d, settling, is held
    assert batch.paths == {0: {b"f": PATH}}
    _aged(q, b"d")                                 # the push took longer than d's moment
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert q.due_at() == q.entries[(0, b"d")].since + NEW_DIR_SETTLE
    assert log.take("beta", 100).paths == {0: {b"d": NEW_DIR}}


def test_a_new_directory_waits_for_the_file_being_written_in_it_then_goes_with_it():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"d", NEW_DIR)
    log.changed(0, b"d/big", PATH, OPEN)
    _aged(q, b"d")
    since = q.entries[(0, b"d/big")].since
    batch = log.take("beta", 100)
    assert batch.empty and batch.writing == {0: [b"d/big"]}
    log.done("beta")
    assert q.due_at() == since + WRITE_SETTLE      # not due of its own: no push of nothing
    log.changed(0, b"d/big", PATH)                 # closed
    assert log.take("beta", 100).paths == {0: {b"d": NEW_DIR, b"d/big": PATH}}


def test_a_new_directory_goes_with_what_is_listed_in_it_and_alone_once_settled_with_nothing_written():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"empty", NEW_DIR)
    log.changed(0, b"d", NEW_DIR)
    log.changed(0, b"d/done", PATH)
    log.changed(0, b"d/big", PATH, OPEN)
    log.changed(0, b"e", NEW_DIR)
    log.changed(0, b"e/sub", NEW_DIR)               # nothing written in it: it goes, and makes e
    log.changed(0, b"e/big", PATH, OPEN)
    log.changed(0, b"other/big", PATH, OPEN)        # in a directory the slave has
    _aged(q, b"empty", b"e/sub")
    batch = log.take("beta", 100)
    assert batch.paths == {0: {b"empty": NEW_DIR, b"d": NEW_DIR, b"d/done": PATH, b"e": NEW_DIR, b"e/sub": NEW_DIR}}


def test_new_directories_one_in_another_wait_together_and_a_change_to_one_frees_it():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"d", NEW_DIR)
    log.changed(0, b"d/sub", NEW_DIR)
    log.changed(0, b"d/sub/big", PATH, OPEN)
    _aged(q, b"d", b"d/sub")
    assert log.take("beta", 100).empty
    log.done("beta")
    log.changed(0, b"d", TREE)                      # its attributes changed: due of its own again
    assert q.due_at() == q.entries[(0, b"d")].since
    assert log.take("beta", 100).paths == {0: {b"d": TREE}}


def test_a_closed_file_written_again_is_not_due_before_its_settle_time():
    log = ChangeLog(["beta"], delay=0.05)
    q = log.queues["beta"]
    log.changed(0, b"f", PATH)
    log.changed(0, b"f", PATH, OPEN)      # opened again and written
    assert q.due_at() == q.entries[(0, b"f")].since + WRITE_SETTLE


def test_a_burst_gathers_before_its_push_and_a_single_change_does_not():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"one", PATH)
    first = q.entries[(0, b"one")].since
    assert q.due_at() == first                       # alone: at once
    for i in range(BURST_PATHS):
        log.changed(0, b"f%d" % i, PATH)
    assert q.due_at() == first + BURST_GATHER        # a burst: gathered into fewer pushes


def _waiter(log, stop, seen):
    return threading.Thread(target=lambda: seen.append(log.wait_due("beta", stop)), daemon=True)


def test_an_idle_pusher_sleeps_until_a_change_or_its_stop():
    log = ChangeLog(["beta"])
    stop, seen = threading.Event(), []
    waiter = _waiter(log, stop, seen)
    waiter.start()
    log.changed(0, b"a", PATH)                 # the change wakes it: it never polls
    waiter.join(5)
    assert seen == [True]
    log.ack_paths("beta", log.take("beta", 100), 0)
    log.done("beta")
    waiter = _waiter(log, stop, seen)
    waiter.start()
    stop.set()
    log.wake()                                  # without it the wait would sleep on
    waiter.join(5)
    assert not waiter.is_alive() and seen == [True, False]
