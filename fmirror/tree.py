"""The watcher's directory tree, packed into arrays: ~65 bytes a directory instead of ~240.

A directory is a slot, an index into parallel arrays: its watch descriptor,
its parent, its first child and its siblings (a doubly linked list, so a
subtree is walked and a child unlinked without a container per directory),
its horizon (see watched.py), and where its name lies in one shared buffer.
A child is found by (parent, name) in one open-addressing hash table of
slots; a watch descriptor finds its slot in a sorted array, which a walk
only appends to since the kernel hands descriptors out in increasing order.
A million Python objects (a node, its name, its wd, a dict entry) would cost
the daemon 24 MB for 100,000 directories; these arrays cost 6.5.

Slots are reused once freed: whoever keeps one past the current event (a
rename waiting for its pair, a walk to retry) keeps a ref(), which deref()
turns back into the slot only while that directory still exists.
"""

from array import array
from bisect import bisect_left

_NONE = -1       # no parent (detached or a root's top), no child, no sibling, no watch
_FREED = -2      # in _parent: the slot is free for the next add()
_MIN_TABLE = 8
_GROW = 256


class Tree:
    """Directories by slot; parent, child and wd lookups; subtrees unlinked and freed whole."""

    def __init__(self):
        self._wd = array("i")
        self._parent = array("i")
        self._first = array("i")
        self._next = array("i")
        self._prev = array("i")
        self._horizon = array("q")
        self._gen = array("I")          # +1 each time the slot is freed: stale refs no longer resolve
        self._name_at = array("I")
        self._name_len = array("H")
        self._names = bytearray()
        self._name_garbage = 0          # bytes of _names no slot points at (renamed, freed)
        self._free = array("i")
        self._table = array("i", [_NONE]) * _MIN_TABLE   # slot of each linked directory, or _NONE
        self._linked = 0
        self._wds = array("i")          # sorted; a dropped watch leaves its wd with slot _NONE
        self._wd_slots = array("i")
        self._wd_holes = 0

    # Reading ------------------------------------------------------------------

    def name(self, slot: int) -> bytes:
        return bytes(self._stored(slot))

    def parent(self, slot: int) -> int | None:
        up = self._parent[slot]
        return None if up == _NONE else up

    def wd(self, slot: int) -> int | None:
        wd = self._wd[slot]
        return None if wd == _NONE else wd

    def horizon(self, slot: int) -> int:
        return self._horizon[slot]

    def set_horizon(self, slot: int, horizon: int) -> None:
        self._horizon[slot] = horizon

    def child(self, parent: int, name: bytes) -> int | None:
        return self._probe(parent, name)[1]

    def children(self, slot: int) -> list[int]:
        out, child = [], self._first[slot]
        while child != _NONE:
            out.append(child)
            child = self._next[child]
        return out

    def slot_of(self, wd: int) -> int | None:
        i = bisect_left(self._wds, wd)
        if i < len(self._wds) and self._wds[i] == wd and self._wd_slots[i] != _NONE:
            return self._wd_slots[i]
        return None

    def wds(self) -> list[int]:
        return [wd for wd, slot in zip(self._wds, self._wd_slots) if slot != _NONE]

    def ref(self, slot: int) -> int:
        """A handle on this directory that outlives the slot's reuse."""
        return self._gen[slot] << 32 | slot

    def deref(self, ref: int | None) -> int | None:
        """The slot ref was taken from, None once that directory was freed (or for no ref)."""
        if ref is None:
            return None
        slot = ref & 0xFFFFFFFF
        return slot if self._gen[slot] == ref >> 32 else None

    # Changing -----------------------------------------------------------------

    def add(self, wd: int | None) -> int:
        """A new detached directory, nameless until linked."""
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self._parent[slot] = _NONE
        self._horizon[slot] = 0
        if wd is not None:
            self._wd[slot] = wd
            self._map_wd(wd, slot)
        return slot

    def link(self, slot: int, parent: int, name: bytes) -> None:
        """Hang slot under parent as name, detaching what was there (freed if it has no watch)."""
        if self._parent[slot] != _NONE:
            self.unlink(slot)
        index, replaced = self._probe(parent, name)
        if replaced is not None:
            self.unlink(replaced)
            self.release(replaced)
            index = self._probe(parent, name)[0]   # the unlink may have shifted the table
        if self._name_len[slot] != len(name) or self._stored(slot) != name:
            self._name_garbage += self._name_len[slot]
            self._store_name(slot, name)
        self._parent[slot] = parent
        first = self._first[parent]
        self._next[slot], self._prev[slot] = first, _NONE
        if first != _NONE:
            self._prev[first] = slot
        self._first[parent] = slot
        self._table[index] = slot
        self._linked += 1
        if self._linked * 2 > len(self._table):
            self._rehash(len(self._table) * 2)

    def unlink(self, slot: int) -> None:
        """Detach slot (with its subtree) from its parent."""
        parent = self._parent[slot]
        if parent == _NONE:
            return
        self._unhash(slot)
        before, after = self._prev[slot], self._next[slot]
        if before == _NONE:
            self._first[parent] = after
        else:
            self._next[before] = after
        if after != _NONE:
            self._prev[after] = before
        self._parent[slot] = self._next[slot] = self._prev[slot] = _NONE

    def remove(self, slot: int) -> list[int]:
        """Unlink and free slot and its whole subtree; return the watch descriptors they had."""
        self.unlink(slot)
        wds, stack = [], [slot]
        while stack:
            slot = stack.pop()
            for child in self.children(slot):
                self.unlink(child)
                stack.append(child)
            if self._wd[slot] != _NONE:
                wds.append(self._wd[slot])
            self._free_slot(slot)
        return wds

    def release(self, slot: int) -> None:
        """Free a detached directory if it has no watch: only a walk finds it again, and makes it anew.

        Its watched descendants stay, detached, for the walk or IN_IGNORED that finds them.
        """
        stack = [slot]
        while stack:
            slot = stack.pop()
            if self._wd[slot] != _NONE:
                continue
            for child in self.children(slot):
                self.unlink(child)
                stack.append(child)
            self._free_slot(slot)

    # Inside -------------------------------------------------------------------

    def _grow(self) -> None:
        # A few slots at a time, onto the free list: the arrays' own overallocation keeps this cheap.
        start = len(self._parent)
        for column in (self._wd, self._first, self._next, self._prev):
            column.extend(array("i", [_NONE]) * _GROW)
        self._parent.extend(array("i", [_FREED]) * _GROW)
        for column in (self._horizon, self._gen, self._name_at, self._name_len):
            column.extend(array(column.typecode, [0]) * _GROW)
        self._free.extend(range(start + _GROW - 1, start - 1, -1))   # the lowest first

    def _free_slot(self, slot: int) -> None:
        """Free a detached slot whose children were unlinked."""
        if self._wd[slot] != _NONE:
            self._unmap_wd(self._wd[slot])
            self._wd[slot] = _NONE
        self._parent[slot] = _FREED
        self._gen[slot] = (self._gen[slot] + 1) & 0xFFFFFFFF
        self._name_garbage += self._name_len[slot]
        self._name_len[slot] = 0
        self._free.append(slot)

    def _stored(self, slot: int) -> bytearray:
        at = self._name_at[slot]
        return self._names[at:at + self._name_len[slot]]

    def _store_name(self, slot: int, name: bytes) -> None:
        if self._name_garbage > max(len(self._names) // 2, 1 << 16):
            self._compact_names()
        self._name_at[slot] = len(self._names)
        self._name_len[slot] = len(name)
        self._names += name

    def _compact_names(self) -> None:
        names = bytearray()
        for slot in range(len(self._parent)):
            if self._parent[slot] != _FREED:
                at = self._name_at[slot]
                self._name_at[slot] = len(names)
                names += self._names[at:at + self._name_len[slot]]
        self._names, self._name_garbage = names, 0

    def _probe(self, parent: int, name: bytes) -> tuple[int, int | None]:
        """(bucket, slot) of (parent, name); when absent, the empty bucket it would take."""
        table, mask = self._table, len(self._table) - 1
        i = hash((parent, name)) & mask
        while (slot := table[i]) != _NONE:
            if self._parent[slot] == parent and self._name_len[slot] == len(name) and self._stored(slot) == name:
                return i, slot
            i = (i + 1) & mask
        return i, None

    def _home(self, slot: int, mask: int) -> int:
        return hash((self._parent[slot], self.name(slot))) & mask

    def _unhash(self, slot: int) -> None:
        # Linear probing deletes by shifting back the entries that probed past the hole.
        table, mask = self._table, len(self._table) - 1
        hole = self._probe(self._parent[slot], self.name(slot))[0]
        j = hole
        while (moved := table[(j := (j + 1) & mask)]) != _NONE:
            home = self._home(moved, mask)
            stays = hole < home <= j if hole < j else home > hole or home <= j
            if not stays:
                table[hole], hole = moved, j
        table[hole] = _NONE
        self._linked -= 1

    def _rehash(self, size: int) -> None:
        table, mask = array("i", [_NONE]) * size, size - 1
        for slot in self._table:
            if slot != _NONE:
                i = self._home(slot, mask)
                while table[i] != _NONE:
                    i = (i + 1) & mask
                table[i] = slot
        self._table = table

    def _map_wd(self, wd: int, slot: int) -> None:
        if not self._wds or wd > self._wds[-1]:
            self._wds.append(wd)
            self._wd_slots.append(slot)
            return
        i = bisect_left(self._wds, wd)   # the kernel's descriptors wrapped around: rare
        if i < len(self._wds) and self._wds[i] == wd:
            if self._wd_slots[i] == _NONE:
                self._wd_holes -= 1
            self._wd_slots[i] = slot
        else:
            self._wds.insert(i, wd)
            self._wd_slots.insert(i, slot)

    def _unmap_wd(self, wd: int) -> None:
        i = bisect_left(self._wds, wd)
        self._wd_slots[i] = _NONE
        self._wd_holes += 1
        if self._wd_holes > max(len(self._wds) // 2, 1024):
            kept = [(w, s) for w, s in zip(self._wds, self._wd_slots) if s != _NONE]
            self._wds = array("i", (w for w, _ in kept))
            self._wd_slots = array("i", (s for _, s in kept))
            self._wd_holes = 0
