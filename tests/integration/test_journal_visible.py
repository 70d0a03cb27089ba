"""The change journal as another process sees it: what the watcher reported is in the file before any push.

A `changes` request (restore asks the new master for them) may be served by
a process other than the daemon, and the daemon itself reads the file: a
change still in the daemon's write buffer would be reported as made on one
side only.
"""

import os

from fmirror import journal
from fmirror.changes import ChangeLog
from fmirror.watcher import Watcher


def test_a_reported_change_is_in_the_journal_file_without_a_push(tmp_path):
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    log = ChangeLog(["slave"], journal.Journal(str(state)))
    watcher = Watcher([os.fsencode(root)], lambda *args: False, log)
    watcher.start()
    try:
        (root / "both.txt").write_bytes(b"changed here, nothing pushed yet")
        assert watcher.drain(10)
        # Read from the file, as another process would: no sync_journal() has run.
        assert (0, b"both.txt") in journal.since(str(state), 0)
    finally:
        watcher.stop()
        log.journal.close()
