"""The `fmirror` program: the forced command's fast path (handoff.py), and only then the CLI.

A module of its own so that a push handed to the daemon never imports
argparse, logging and the rest of the CLI.
"""

import sys

from fmirror import handoff


def main() -> int:
    status = handoff.attempt(sys.argv[1:])
    if status is not None:
        return status
    from fmirror.cli import main as cli_main
    return cli_main()
