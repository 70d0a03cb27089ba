"""Latency probe, run inside the slave host: when did each version of each file arrive complete.

Run as a script (python bench/probe.py DIR READY OUT): it needs only the
standard library and fmirror.inotify. The tools write a temporary file and
rename it into place (IN_MOVED_TO); IN_CLOSE_WRITE covers a tool that writes
in place. A file counts once its size matches the size its header announces
(see writer.py). Touches READY once watching; on SIGTERM writes
{"seen": [[name, version, at]]} to OUT, `at` from time.monotonic().
"""

import json
import os
import select
import signal
import sys
import time

from fmirror import inotify

POLL_MS = 100


def complete_version(path: bytes) -> tuple[str, int] | None:
    """(name, version) of a complete file written by writer.py, else None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None   # replaced or removed meanwhile: a later event tells
    header, _, _ = data.partition(b"\n")
    try:
        name, version, size = header.decode().split()
    except ValueError:
        return None   # caught while truncated
    return (name, int(version)) if len(data) == int(size) else None


def main():
    directory, ready, out = (os.fsencode(a) for a in sys.argv[1:4])
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    watch = inotify.Inotify()
    watch.add_watch(directory, inotify.IN_MOVED_TO | inotify.IN_CLOSE_WRITE)
    open(ready, "w").close()
    poller = select.poll()
    poller.register(watch.fileno(), select.POLLIN)
    seen = {}
    while not stopping:
        if not poller.poll(POLL_MS):
            continue
        events = watch.read()
        at = time.monotonic()
        for event in events:
            if not event.name or event.name.startswith(b"."):
                continue   # rsync's temporary files
            found = complete_version(os.path.join(directory, event.name))
            if found is not None and found not in seen:
                seen[found] = at
    with open(out, "w") as f:
        json.dump({"seen": [[name, version, at] for (name, version), at in seen.items()]}, f)


if __name__ == "__main__":
    main()
