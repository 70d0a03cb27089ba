"""`fmirror seed`: the first full copy to every slave, with progress.

On a terminal a progress bar per path (percent, bytes, rate, ETA from
rsync's own --info=progress2); elsewhere a log line every few seconds.
"""

import sys
import time

from tqdm import tqdm

from fmirror import progress, protocol, rsync, ssh
from fmirror.config.model import Config
from fmirror.errors import ExitCode, Failed

LOG_EVERY = 5.0
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
    tty = sys.stderr.isatty()
    bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr, disable=not tty,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
    last_log = [0.0]

    def show(p):
        if tty:
            bar.n = p[1]
            bar.set_postfix_str(progress.describe(p))
        elif time.monotonic() - last_log[0] >= LOG_EVERY:
            last_log[0] = time.monotonic()
            print(f"seed {label}: {progress.describe(p)}", file=sys.stderr, flush=True)
    try:
        result = progress.run(argv, show)
    finally:
        bar.close()
    if not tty:
        print(f"seed {label}: {'done' if result.returncode in rsync.OK_CODES else 'failed'}", file=sys.stderr)
    return result.returncode, result.stderr.decode("utf-8", "replace")
