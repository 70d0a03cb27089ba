"""`fmirror seed`: the first full copy to every slave, with progress.

On a terminal a progress bar per path (percent, bytes, rate, ETA from
rsync's own --info=progress2); elsewhere a log line every few seconds.
"""

import re
import subprocess
import sys
import tempfile
import time

from tqdm import tqdm

from fmirror import process, protocol, rsync, ssh
from fmirror.config.model import Config
from fmirror.errors import ExitCode, Failed

LOG_EVERY = 5.0
# "  1,234,567  45%   12.34MB/s    0:00:12 (xfr#5, to-chk=100/200)"
_PROGRESS = re.compile(rb"([\d,]+)\s+(\d+)%\s+(\S+)\s+(\d+:\d\d:\d\d)(?:.*to-chk=(\d+)/(\d+))?")


def parse_progress(line: bytes):
    """(bytes, percent, rate, eta, files done, files total) from a progress2 line, or None."""
    m = _PROGRESS.search(line)
    if m is None:
        return None
    done = total = None
    if m.group(6):
        total = int(m.group(6))
        done = total - int(m.group(5))
    return int(m.group(1).replace(b",", b"")), int(m.group(2)), m.group(3).decode(), m.group(4).decode(), done, total


def seed(cfg: Config, epoch: int) -> int:
    ssh.prepare(cfg)
    failed = []
    for peer in cfg.peers:
        for root in cfg.paths:
            argv = rsync.full_argv(cfg, ssh.rsh(cfg), protocol.push_rsync_path(epoch, cfg.node), root,
                                   rsync.remote_dest(cfg.transport.ssh_user, peer.address, root), progress=True)
            code, err = _run_with_progress(argv, f"{peer.name}:{root}")
            refusal = protocol.find_refusal(err)
            outcome = rsync.interpret(code, refusal is not None)
            if outcome is not rsync.Outcome.OK:
                reason = refusal.reason if refusal else f"rsync exit {code}: {err.strip().splitlines()[-1:] or ''}"
                print(f"fmirror: seed of {root} to {peer.name} failed: {reason}", file=sys.stderr)
                failed.append((peer.name, root))
        ssh.close(cfg, peer)
    if failed:
        raise Failed(f"seed incomplete: {len(failed)} of {len(cfg.peers) * len(cfg.paths)} copies failed")
    return ExitCode.OK


def _run_with_progress(argv, label):
    # stderr to a file: thousands of rsync warnings must not fill a pipe nobody reads yet.
    errfile = tempfile.TemporaryFile()
    proc = process.spawn(argv, stdout=subprocess.PIPE, stderr=errfile)
    tty = sys.stderr.isatty()
    bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr, disable=not tty,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
    last_log = 0.0
    try:
        for line in _lines(proc.stdout):
            p = parse_progress(line)
            if p is None:
                continue
            size, percent, rate, eta, done, total = p
            files = f", {done}/{total} files" if total else ""
            text = f"{size / 1e6:.1f} MB, {rate}, ETA {eta}{files}"
            if tty:
                bar.n = percent
                bar.set_postfix_str(text)
            elif time.monotonic() - last_log >= LOG_EVERY:
                last_log = time.monotonic()
                print(f"seed {label}: {percent}% {text}", file=sys.stderr, flush=True)
        code = proc.wait()
        errfile.seek(0)
        err = errfile.read().decode("utf-8", "replace")
    finally:
        bar.close()
        process.stop(proc)
        errfile.close()
    if not tty:
        print(f"seed {label}: {'done' if code in rsync.OK_CODES else 'failed'}", file=sys.stderr)
    return code, err


def _lines(stream):
    """rsync redraws progress with carriage returns: split on both CR and LF."""
    buf = b""
    while chunk := stream.read1(4096):
        buf += chunk
        *lines, buf = re.split(rb"[\r\n]", buf)
        yield from lines
    if buf:
        yield buf
