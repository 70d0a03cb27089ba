"""SIGTERM for the harnesses: unwound like Ctrl-C, as fmirror's own CLI does (cli.main).

Python's default dies at once, without `finally`: a benchmark ended by
timeout(1) left its lab's namespaces and sshds for the next run's
remove_stale. Raised in the main thread, the interrupt unwinds through
`with Lab`, which tears the lab down.
"""

import signal
import sys


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def run(main) -> int:
    """main() with SIGTERM taken as Ctrl-C; 130 and one line when either ends it."""
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return main()
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
