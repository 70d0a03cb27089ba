"""rsync's own progress (--info=progress2), read while it runs: for `seed` and the first full reconciliation."""

import re
import subprocess
import tempfile
import threading

from fmirror import process

# "  1,234,567  45%   12.34MB/s    0:00:12 (xfr#5, to-chk=100/200)"
_PROGRESS = re.compile(rb"([\d,]+)\s+(\d+)%\s+(\S+)\s+(\d+:\d\d:\d\d)(?:.*to-chk=(\d+)/(\d+))?")


def parse(line: bytes):
    """(bytes, percent, rate, eta, files done, files total) from a progress2 line, or None."""
    m = _PROGRESS.search(line)
    if m is None:
        return None
    done = total = None
    if m.group(6):
        total = int(m.group(6))
        done = total - int(m.group(5))
    return int(m.group(1).replace(b",", b"")), int(m.group(2)), m.group(3).decode(), m.group(4).decode(), done, total


def describe(p) -> str:
    size, percent, rate, eta, done, total = p
    files = f", {done}/{total} files" if total else ""
    return f"{percent}%, {size / 1e6:.1f} MB, {rate}, ETA {eta}{files}"


def run(argv, on_progress, cancel=None) -> process.Result:
    """Run rsync, calling on_progress(parsed) for each progress line; other stdout lines are kept."""
    # stderr to a file: thousands of rsync warnings must not fill a pipe nobody reads yet.
    with tempfile.TemporaryFile() as errfile:
        proc = process.spawn(argv, stdout=subprocess.PIPE, stderr=errfile)
        if cancel is not None:
            threading.Thread(target=_stop_on, args=(proc, cancel), daemon=True).start()
        kept = []
        try:
            for line in _lines(proc.stdout):
                p = parse(line)
                if p is not None:
                    on_progress(p)
                else:
                    kept.append(line)
            code = proc.wait()
        finally:
            process.stop(proc)
        if cancel is not None and cancel.is_set():
            raise process.Cancelled(argv[0])
        errfile.seek(0)
        return process.Result(argv, code, b"\n".join(kept), errfile.read())


def _stop_on(proc, cancel):
    while proc.poll() is None:
        if cancel.wait(0.2):
            process.stop(proc)
            return


def _lines(stream):
    """rsync redraws progress with carriage returns: split on both CR and LF."""
    buf = b""
    while chunk := stream.read1(4096):
        buf += chunk
        *lines, buf = re.split(rb"[\r\n]", buf)
        yield from lines
    if buf:
        yield buf
