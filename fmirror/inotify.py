"""A thin ctypes layer over Linux inotify, with bytes paths throughout.

Not watchdog: it silently drops IN_Q_OVERFLOW, and a mirror that misses an
overflow has stopped mirroring without knowing it.
"""

import ctypes
import errno
import fcntl
import os
import struct
import termios
from typing import NamedTuple

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

# One read takes as many whole events as fit: a big buffer means few syscalls
# when a burst arrives (an event is 16 bytes plus its padded name).
READ_SIZE = 256 * 1024

_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len

_libc = ctypes.CDLL(None, use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_init1.restype = ctypes.c_int
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_add_watch.restype = ctypes.c_int
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.inotify_rm_watch.restype = ctypes.c_int


class WatchLimitReached(OSError):
    """inotify_add_watch failed with ENOSPC: fs.inotify.max_user_watches is used up."""


class WatchTargetGone(OSError):
    """The directory vanished or was replaced by a non-directory before it could be watched."""


class Event(NamedTuple):
    wd: int
    mask: int
    cookie: int
    name: bytes  # b"" for an event on the watched directory itself
    size: int  # bytes it took in the stream read from the descriptor


def parse_events(buf: bytes) -> list[Event]:
    """Split what one read() returned into events; names lose their NUL padding."""
    events = []
    offset, end = 0, len(buf)
    while offset < end:
        wd, mask, cookie, length = _HEADER.unpack_from(buf, offset)
        offset += _HEADER.size
        name = buf[offset:offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(Event(wd, mask, cookie, name, _HEADER.size + length))
    return events


# Events that say only that a file's content changed (a created directory is
# walked, so IN_ISDIR is never one): a later one for the same name says as much.
CONTENT = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE
MOVES = IN_MOVED_FROM | IN_MOVED_TO


def superseded(events: list[Event]) -> list[bool]:
    """For each event of one read, whether a later one makes it redundant.

    A content event is redundant when a later content event for the same
    name follows with no other kind of event in between (of any name): the
    later one tells the file's state after both. A small file written at
    once is a create, a modify and a close; handled alone, each costs a mark
    in every slave's queue and a journal line, and the create an lstat.
    Every other event stands, and so does every event from the first move
    on: the watcher pairs a move with what follows it.
    """
    first_move = next((i for i, e in enumerate(events) if e.mask & MOVES), len(events))
    out = [False] * len(events)
    later = set()
    for i in range(first_move - 1, -1, -1):
        e = events[i]
        if e.name and not e.mask & ~CONTENT:
            key = (e.wd, e.name)
            out[i] = key in later
            later.add(key)
        else:
            later.clear()
    return out


def _raise_errno(path: bytes | None = None):
    err = ctypes.get_errno()
    if err == errno.ENOSPC:
        raise WatchLimitReached(err, os.strerror(err), path)
    if err in (errno.ENOENT, errno.ENOTDIR):
        raise WatchTargetGone(err, os.strerror(err), path)
    raise OSError(err, os.strerror(err), path)


class Inotify:
    """One non-blocking, close-on-exec inotify descriptor."""

    def __init__(self):
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            _raise_errno()
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def add_watch(self, path: bytes, mask: int) -> int:
        """Watch path; return its watch descriptor (the same one again for an inode already watched).

        Raises WatchLimitReached on ENOSPC, WatchTargetGone on ENOENT/ENOTDIR,
        OSError otherwise.
        """
        wd = _libc.inotify_add_watch(self._fd, path, mask)
        if wd < 0:
            _raise_errno(path)
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stop watching wd; a watch the kernel already dropped (EINVAL) is fine."""
        if _libc.inotify_rm_watch(self._fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
            _raise_errno()

    def read(self) -> list[Event]:
        """The events queued now, at most READ_SIZE bytes of them; [] when there are none."""
        try:
            return parse_events(os.read(self._fd, READ_SIZE))
        except BlockingIOError:
            return []

    def queued_bytes(self) -> int:
        """How many bytes of events wait in the kernel queue right now (FIONREAD)."""
        return struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0" * 4))[0]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
