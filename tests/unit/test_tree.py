"""The watcher's packed directory tree, against a plain-dict model of the same operations."""

import itertools
import random

from fmirror.tree import Tree


def path_of(tree, slot):
    names = []
    while (up := tree.parent(slot)) is not None:
        names.append(tree.name(slot))
        slot = up
    return slot, b"/".join(reversed(names))


def test_a_renamed_subtree_keeps_its_children_under_the_new_name():
    tree = Tree()
    top = tree.add(1)
    a, b, c = tree.add(2), tree.add(3), tree.add(4)
    tree.link(a, top, b"a")
    tree.link(b, a, b"b")
    tree.link(c, b, b"c")
    tree.link(a, top, b"renamed")
    assert tree.child(top, b"a") is None
    assert tree.child(top, b"renamed") == a
    assert path_of(tree, c) == (top, b"renamed/b/c")
    assert tree.slot_of(4) == c


def test_removing_a_subtree_frees_every_slot_and_returns_its_watches():
    tree = Tree()
    top = tree.add(1)
    a = tree.add(2)
    tree.link(a, top, b"a")
    unwatched = tree.add(None)
    tree.link(unwatched, a, b"u")
    deep = tree.add(5)
    tree.link(deep, unwatched, b"d")
    ref = tree.ref(deep)
    assert sorted(tree.remove(a)) == [2, 5]
    assert tree.children(top) == [] and tree.child(top, b"a") is None
    assert tree.slot_of(2) is None and tree.slot_of(5) is None
    assert tree.deref(ref) is None
    reused = tree.add(6)
    assert reused in (a, unwatched, deep)
    assert tree.deref(ref) is None   # the slot lives again, as another directory


def test_a_replaced_unwatched_directory_is_freed_but_its_watched_children_stay_detached():
    tree = Tree()
    top = tree.add(1)
    old = tree.add(None)
    tree.link(old, top, b"x")
    kept = tree.add(3)
    tree.link(kept, old, b"k")
    old_ref = tree.ref(old)
    new = tree.add(4)
    tree.link(new, top, b"x")
    assert tree.child(top, b"x") == new
    assert tree.deref(old_ref) is None
    assert tree.parent(kept) is None and tree.slot_of(3) == kept   # a walk or IN_IGNORED finds it


def test_a_replaced_watched_directory_stays_detached_with_its_subtree():
    tree = Tree()
    top = tree.add(1)
    old, sub = tree.add(2), tree.add(3)
    tree.link(old, top, b"x")
    tree.link(sub, old, b"s")
    tree.link(tree.add(4), top, b"x")
    assert tree.parent(old) is None and tree.child(old, b"s") == sub


def test_watch_descriptors_that_wrapped_around_are_found():
    tree = Tree()
    slots = {wd: tree.add(wd) for wd in (10, 20, 30, 5, 25)}
    assert {wd: tree.slot_of(wd) for wd in slots} == slots
    assert tree.slot_of(7) is None and sorted(tree.wds()) == sorted(slots)


def test_names_stay_right_across_many_renames():
    # Each rename writes the new name anew: the shared buffer is compacted now and then.
    tree = Tree()
    top = tree.add(1)
    kept = [tree.add(2 + i) for i in range(100)]
    for i, slot in enumerate(kept):
        tree.link(slot, top, b"kept-%d" % i)
    moving = tree.add(200)
    for i in range(50000):
        tree.link(moving, top, b"moving-%06d" % i)
    assert [tree.name(slot) for slot in kept] == [b"kept-%d" % i for i in range(100)]
    assert tree.child(top, b"moving-049999") == moving and tree.child(top, b"moving-000000") is None


def test_random_links_renames_and_removals_match_a_dict_model():
    # Thirty names a directory: links displace each other often, and the hash table's
    # deletions shift many neighbours. Every directory is watched, so a displaced one stays.
    rng = random.Random(7)
    tree, model = Tree(), {}   # model: slot -> (parent slot, name) for every linked slot
    wds = itertools.count(1)
    live = [tree.add(next(wds))]
    for step in range(20000):
        op = rng.random()
        if op < 0.7 or len(live) < 3:
            slot = tree.add(next(wds)) if op < 0.4 or len(live) < 3 else rng.choice(live[1:])
            parent, name = rng.choice(live), b"d%d" % rng.randrange(30)
            if slot == parent or _under(model, parent, slot):
                continue
            displaced = tree.child(parent, name)
            tree.link(slot, parent, name)
            model.pop(slot, None)
            if displaced is not None and displaced != slot:
                del model[displaced]
            model[slot] = (parent, name)
            if slot not in live:
                live.append(slot)
        else:
            slot = rng.choice(live[1:])
            gone = {s for s in live if s == slot or _under(model, s, slot)}
            expected = sorted(tree.wd(s) for s in gone)
            assert sorted(tree.remove(slot)) == expected
            live = [s for s in live if s not in gone]
            for s in gone:
                model.pop(s, None)
        if step % 1000 == 0:
            _check(tree, model, live)
    _check(tree, model, live)


def _under(model, slot, ancestor):
    while slot in model:
        slot = model[slot][0]
        if slot == ancestor:
            return True
    return False


def _check(tree, model, live):
    for slot, (parent, name) in model.items():
        assert tree.parent(slot) == parent and tree.name(slot) == name
        assert tree.child(parent, name) == slot
    for slot in live:
        assert sorted(tree.children(slot)) == sorted(s for s, (p, _) in model.items() if p == slot)
        assert tree.slot_of(tree.wd(slot)) == slot
