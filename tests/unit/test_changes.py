import threading

from fmirror.changes import ChangeLog


def test_change_leaves_queue_only_after_ack():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", False)
    batch = log.take("beta", 100)
    assert batch.paths == {0: {b"a": False}}
    assert log.unsent("beta")[0] == 1
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert log.unsent("beta")[0] == 0


def test_change_during_push_stays_queued():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", False)
    batch = log.take("beta", 100)
    log.changed(0, b"a", False)          # written again while the push runs
    log.ack_paths("beta", batch, 0)
    log.done("beta")
    assert log.unsent("beta")[0] == 1


def test_failed_push_keeps_everything():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", False)
    log.deleted(0, b"b")
    log.take("beta", 100)
    log.done("beta")                      # no ack: rsync failed
    assert log.unsent("beta")[0] == 2


def test_one_slave_ack_does_not_ack_another():
    log = ChangeLog(["beta", "gamma"])
    log.changed(0, b"a", False)
    batch = log.take("beta", 100)
    log.ack_paths("beta", batch, 0)
    assert log.unsent("beta")[0] == 0
    assert log.unsent("gamma")[0] == 1


def test_full_sync_covers_changes_before_it_started_only():
    log = ChangeLog(["beta"])
    log.changed(0, b"old", False)
    log.full_sync_needed("test")
    batch = log.take("beta", 100)
    assert batch.full
    log.changed(0, b"new", False)
    log.ack_full("beta", batch)
    log.done("beta")
    count, _, full = log.unsent("beta")
    assert (count, full) == (1, False)


def test_rename_marks_both_ends_and_tree():
    log = ChangeLog(["beta"])
    log.renamed(0, b"d1", b"d2", True)
    batch = log.take("beta", 100)
    assert [(r.old, r.new) for r in batch.renames] == [(b"d1", b"d2")]
    assert batch.paths == {0: {b"d1": False, b"d2": True}}


def test_max_batch_limits_paths_per_push():
    log = ChangeLog(["beta"])
    for i in range(10):
        log.changed(0, b"f%d" % i, False)
    batch = log.take("beta", 4)
    assert sum(len(v) for v in batch.paths.values()) == 4


def test_wait_acked_is_a_barrier():
    log = ChangeLog(["beta"])
    log.changed(0, b"a", False)
    barrier = log.current()
    assert not log.wait_acked(barrier, 0.05)
    batch = log.take("beta", 100)
    threading.Timer(0.1, lambda: log.ack_paths("beta", batch, 0)).start()
    assert log.wait_acked(barrier, 5)


def test_push_is_due_only_after_delay():
    log = ChangeLog(["beta"])
    q = log.queues["beta"]
    log.changed(0, b"a", False)
    first = q.entries[(0, b"a")].since
    assert q.due_at(0.2) == first + 0.2
