"""Which events of one read add nothing to a later one (inotify.superseded)."""

from fmirror import inotify as ino
from fmirror.inotify import Event


def ev(mask: int, name: bytes = b"f", wd: int = 1, cookie: int = 0) -> Event:
    return Event(wd, mask, cookie, name, 16 + len(name))


def test_a_small_file_written_at_once_is_one_close():
    events = [ev(ino.IN_CREATE), ev(ino.IN_MODIFY), ev(ino.IN_CLOSE_WRITE)]
    assert ino.superseded(events) == [True, True, False]


def test_other_names_and_other_directories_do_not_supersede():
    events = [ev(ino.IN_CREATE, b"a"), ev(ino.IN_CREATE, b"b"), ev(ino.IN_CLOSE_WRITE, b"a", wd=2),
              ev(ino.IN_CLOSE_WRITE, b"b")]
    assert ino.superseded(events) == [False, True, False, False]


def test_any_other_kind_of_event_in_between_keeps_both():
    for between in (ev(ino.IN_DELETE, b"x"), ev(ino.IN_ATTRIB, b"f"), ev(ino.IN_CREATE | ino.IN_ISDIR, b"d"),
                    ev(ino.IN_IGNORED, b""), ev(ino.IN_Q_OVERFLOW, b"", wd=-1)):
        assert ino.superseded([ev(ino.IN_CREATE), between, ev(ino.IN_CLOSE_WRITE)]) == [False, False, False]


def test_nothing_from_the_first_move_on_is_superseded():
    events = [ev(ino.IN_MODIFY, b"a"), ev(ino.IN_CLOSE_WRITE, b"a"), ev(ino.IN_MOVED_FROM, b"a", cookie=7),
              ev(ino.IN_CREATE, b"a"), ev(ino.IN_CLOSE_WRITE, b"a")]
    assert ino.superseded(events) == [True, False, False, False, False]


def test_a_file_reopened_for_writing_ends_as_still_written():
    events = [ev(ino.IN_CLOSE_WRITE), ev(ino.IN_MODIFY)]
    assert ino.superseded(events) == [True, False]     # the modify stands: the file is open again
