"""The `fmirror` command: argument parsing and the one handler that turns errors into one line."""

import argparse
import logging
import signal
import sys

from fmirror import __version__
from fmirror.errors import ConfigError, Error, ExitCode

log = logging.getLogger("fmirror")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fmirror", description="Live file mirroring and failover.")
    p.add_argument("-c", "--config", help="configuration file (default: $FMIRROR_CONFIG or /etc/fmirror/fmirror.yaml)")
    p.add_argument("--node", help="which entry of nodes this host is (default: node: in the file, else the short hostname)")
    p.add_argument("--debug", action="store_true", help="log debug lines to stderr and show tracebacks")
    p.add_argument("--version", action="version", version=f"fmirror {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("daemon", help="run this node in its current role until SIGTERM; SIGHUP reloads")
    sub.add_parser("check-config", help="validate the configuration; print the resolved node and role")
    st = sub.add_parser("status", help="role, epoch, peers, unsent changes, last push")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--events", action="store_true", help="the last state changes with their times")
    sub.add_parser("seed", help="initial full copy to every slave, with progress")
    w = sub.add_parser("wait", help="return 0 once every change made before the call is on every slave")
    w.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds (exit 1); default 60")
    f = sub.add_parser("failover", help="slave: promote now (refused while the master answers)")
    f.add_argument("--force", action="store_true",
                   help="promote even though the master may hold changes that never arrived here (data loss)")
    so = sub.add_parser("switchover", help="planned role swap with no loss (run on either node)")
    so.add_argument("--to", metavar="NODE", help="the slave to hand over to (default: the only one)")
    r = sub.add_parser("restore", help="on a suspended node: show the divergence, rescue, reverse-sync, rejoin")
    r.add_argument("--dry-run", action="store_true", help="only print the divergence report; touch nothing")
    r.add_argument("--failback", action="store_true", help="after the rejoin, switch over back to this node")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    r.add_argument("--json", action="store_true", help="the divergence report as JSON")
    v = sub.add_parser("versions", help="slave: kept versions of deleted and overwritten files")
    vsub = v.add_subparsers(dest="action", metavar="ACTION", required=True)
    vsub.add_parser("list", help="the kept versions of a file: time replaced, size, where").add_argument("path")
    vr = vsub.add_parser("restore", help="put a kept version back on the master; it replicates from there")
    vr.add_argument("path")
    vr.add_argument("--at", metavar="TIME", help="the content the file had at TIME (UTC; default: the newest version)")
    vsub.add_parser("prune", help="remove versions older than replication.keep_versions_days")
    sn = sub.add_parser("snapshot", help="slave: hardlink snapshots of the mirror")
    sn.add_argument("action", choices=("create", "list", "prune"))
    sub.add_parser("release-brake", help="master: let the mass deletion the brake paused go through, once")
    sub.add_parser("serve", help="ssh forced command: receive pushes and answer peers (not for humans)")
    d = sub.add_parser("demo", help="build a lab of real hosts on this machine and play the story (root)")
    d.add_argument("--keep", action="store_true", help="leave the lab up at the end until Enter")
    return p


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:          # argparse already printed usage and one line
        return ExitCode.USAGE if e.code else ExitCode.OK
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM unwinds like Ctrl-C, so a command that is stopped stops its children too.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return _run(args) or ExitCode.OK
    except Error as e:
        # Config problems already name the file and key path, one per line.
        lines = e.problems if isinstance(e, ConfigError) else [f"fmirror: {e}"]
        print("\n".join(lines), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fmirror: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a traceback reaching a user is a bug: one line, details on --debug
        if args.debug:
            raise
        print(f"fmirror: internal error: {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return ExitCode.FAILED


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _run(args) -> int:
    # Imported here so that `--help` and argument errors work without the rest.
    from fmirror import commands
    return commands.dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
