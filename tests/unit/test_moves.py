from fmirror.moves import MovedFrom, MovePairs


def _move(rel, deadline, node=None):
    return MovedFrom(0, rel, True, False, node, deadline)


def test_a_pair_is_taken_once_and_an_unknown_cookie_came_from_outside():
    pairs = MovePairs()
    pairs.add(7, _move(b"a", 1.0))
    assert pairs and pairs.take(7).rel == b"a"
    assert not pairs and pairs.take(7) is None


def test_expired_halves_leave_in_the_order_they_came_and_the_rest_wait():
    pairs = MovePairs()
    for cookie, rel, deadline in ((3, b"c", 2.0), (1, b"a", 1.0), (2, b"b", 5.0)):
        pairs.add(cookie, _move(rel, deadline))
    assert pairs.next_deadline() == 1.0
    assert [m.rel for m in pairs.expire(lambda m: m.deadline <= 2.0)] == [b"c", b"a"]
    assert pairs.next_deadline() == 5.0


def test_a_subtree_a_walk_found_is_no_longer_unwatched_by_its_move_out():
    pairs = MovePairs()
    pairs.add(1, _move(b"a", 1.0, node=42))
    pairs.add(2, _move(b"b", 1.0, node=43))
    pairs.disown(42)
    assert [m.node for m in pairs.expire(lambda m: True)] == [None, 43]
    assert pairs.next_deadline() is None
