"""`fmirror serve`: the ssh forced command, the only thing a peer's key may run.

It reads the request from SSH_ORIGINAL_COMMAND, admits or refuses it, and for
a push starts `rsync --server` writing into one configured path. The receive
lock (shared) stays held by that rsync until it exits, so a role change
(exclusive) never happens under a running push. The same code serves pushes
and renames the daemon was handed (resident.py); channel.py says where the
answers go and how rsync starts.
"""

import argparse
import fcntl
import json
import os
import re
import shlex
import stat
import time

from fmirror import channel as channel_mod, control, journal, locations, protocol, state as state_mod, versions, vip, warm
from fmirror.config.model import Config, Role
from fmirror.errors import DaemonNotRunning, Error, ExitCode

# Option letters the sender may ask of our rsync server. Not "s" (secluded
# args would carry the destination past the check below) and nothing that
# makes this side send (--sender is refused separately).
_PUSH_LETTERS = set("logDtprRvzcxWHAXUNOJSIubn")
_FLAGS = re.compile(r"^-(?P<opts>[A-Za-z]*)(?:e(?P<caps>[.A-Za-z]*))?$")
_LONG_OPTIONS = {"--delete", "--delete-missing-args", "--numeric-ids", "--force", "--compress", "--stats", "--dry-run",
                 "--ignore-errors", "--delete-after", "--delete-during", "--delete-delay"}
_VALUED_OPTIONS = {"--timeout", "--bwlimit", "--compress-level", "--max-delete"}


class Refuse(Exception):
    """A request this node will not serve; the reason goes back to the sender."""


def main(cfg: Config, command: str | None, chan: channel_mod.Channel) -> int:
    try:
        words = shlex.split(command or "")
    except ValueError:
        words = []
    if len(words) < 2 or words[0] != protocol.TAG:
        chan.say(f"fmirror serve: this key may only be used by fmirror (got {command!r})")
        return ExitCode.REFUSED
    verb, args = words[1], words[2:]
    handler = {"state": serve_state, "push": serve_push, "rename": serve_rename, "demote": serve_demote,
               "promote": serve_promote, "switchover": serve_switchover, "pull": serve_pull,
               "changes": serve_changes, "rejoined": serve_rejoined, "put": serve_put,
               "link": serve_link, "go": serve_go}.get(verb)
    if handler is None:
        chan.say(f"fmirror serve: unknown request {verb!r}")
        return ExitCode.USAGE
    try:
        return handler(cfg, args, chan)
    except Refuse as e:
        current = state_mod.load(cfg)
        chan.say(protocol.refusal_line(str(e), current.role.value, current.epoch))
        return ExitCode.REFUSED


# Answers from the local daemon come quickly or not at all: a peer's monitor waits on them.
DAEMON_ANSWER = 1.0


def serve_state(cfg: Config, args, chan) -> int:
    """This node's state; a report of the asker's own that came with it goes to the serving daemon."""
    if chan.daemon is not None:
        # The daemon that serves it holds what state.json says (it alone writes role and epoch
        # while it runs): a peer's monitor asks every few seconds, and need not cost a read.
        chan.answer(chan.daemon.report())
    else:
        try:
            st = control.call(cfg.state_dir, "status", timeout=DAEMON_ANSWER)
        except Error:
            st = None
        chan.answer(protocol.state_answer(state_mod.load(cfg), st))
    # Over a link only: there the input came whole with the request, and the daemon serves it.
    report = protocol.peer_report(chan.input, [n for n in cfg.nodes if n != cfg.node])
    if report is not None and chan.daemon is not None:
        chan.daemon.heard(report)
    return ExitCode.OK


def _local(cfg, chan, op, **args):
    """A quick control op (status, peer_rejoined) of this node's daemon: called in-process when
    the daemon serves this request itself, else over its control socket."""
    if chan.daemon is not None:
        return getattr(chan.daemon, op)(**args)
    return control.call(cfg.state_dir, op, timeout=DAEMON_ANSWER, **args)


def _ask_daemon(cfg, op, timeout, **args):
    """Forward a request to the local daemon; its refusals go back to the peer as refusals."""
    try:
        return control.call(cfg.state_dir, op, timeout=timeout, **args)
    except DaemonNotRunning:
        raise
    except Error as e:
        if e.exit_code == ExitCode.REFUSED:
            raise Refuse(str(e)) from None
        raise


def serve_demote(cfg: Config, args, chan) -> int:
    """A slave about to promote asks this master to step down."""
    ns, _ = _sender(args)
    if ns.sender not in cfg.nodes or ns.sender == cfg.node:
        raise Refuse(f"unknown sender {ns.sender!r}")
    try:
        result = _ask_daemon(cfg, "step_down", 60, epoch=ns.epoch, requester=ns.sender)
    except DaemonNotRunning:
        # No daemon to push what is left: let go of the IP and wait for restore.
        current = state_mod.load(cfg)
        if current.role is Role.MASTER:
            if ns.epoch <= current.epoch:
                raise Refuse(f"step down to epoch {ns.epoch} refused: this master is at epoch {current.epoch}")
            if cfg.floating_ip:
                vip.release(cfg)

            def suspended(s):
                s.role, s.master = Role.SUSPENDED, ns.sender
                s.reason = f"{ns.sender} took over at epoch {ns.epoch} while the daemon was not running"
            current = state_mod.update(cfg, suspended)
        result = {"role": current.role.value, "drained": False}
    chan.answer(result)
    return ExitCode.OK


def serve_promote(cfg: Config, args, chan) -> int:
    """The master hands over in a switchover: promote here at the epoch it chose."""
    ns, _ = _sender(args)
    try:
        result = _ask_daemon(cfg, "takeover", 60, epoch=ns.epoch, sender=ns.sender)
    except DaemonNotRunning:
        raise Refuse("the fmirror daemon is not running on this node") from None
    chan.answer(result)
    return ExitCode.OK


def serve_switchover(cfg: Config, args, chan) -> int:
    """A slave's `fmirror switchover`: this master hands over to it."""
    ns, _ = _sender(args)
    try:
        result = _ask_daemon(cfg, "switchover", 180, target=ns.sender)
    except DaemonNotRunning:
        raise Refuse("the fmirror daemon is not running on the master") from None
    chan.answer(result)
    return ExitCode.OK


def _sender(args):
    p = argparse.ArgumentParser(prog="push", add_help=False, exit_on_error=False)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--from", dest="sender", required=True)
    try:
        return p.parse_known_args(args)
    except (argparse.ArgumentError, SystemExit):
        raise Refuse("malformed request") from None


def admit(role: Role, epoch: int, sender_epoch: int):
    """Why a write from a master of sender_epoch is refused here, or None to accept it."""
    if role is not Role.SLAVE:
        return f"this node is {role.value}, not a slave"
    if sender_epoch < epoch:
        return f"sender epoch {sender_epoch} is lower than this node's epoch {epoch}"
    return None


def _admit_write(cfg: Config, sender: str, sender_epoch: int) -> int:
    """Check role and epoch under the shared receive lock; returns the lock's fd (kept open)."""
    if sender not in cfg.nodes or sender == cfg.node:
        raise Refuse(f"unknown sender {sender!r}")
    fd = receive_lock(cfg, fcntl.LOCK_SH)
    current = state_mod.load(cfg)
    reason = admit(current.role, current.epoch, sender_epoch)
    if reason:
        os.close(fd)
        raise Refuse(reason)
    if sender_epoch > current.epoch:
        # A newer master: this is how a slave learns the epoch of a promotion.
        state_mod.update(cfg, lambda s: setattr(s, "epoch", sender_epoch))
    return fd


def open_receive_lock(cfg: Config) -> int:
    """The receive lock's file: shared by every running receive, exclusive for a role change or a snapshot."""
    os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
    return os.open(os.path.join(cfg.state_dir, "receive.lock"), os.O_RDWR | os.O_CREAT, 0o600)


def wait_exclusive(fd: int, seconds: float, cancel=None) -> bool:
    """Poll for the receive lock exclusively; False after `seconds` or once `cancel` is set.

    Polled, not blocking: pushes come one after another with gaps, and a
    stopping daemon must not hang on a lock.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline or (cancel is not None and cancel.is_set()):
                return False
            time.sleep(0.05)


def receive_lock(cfg: Config, mode) -> int:
    fd = open_receive_lock(cfg)
    fcntl.flock(fd, mode)
    return fd


def rsync_server_argv(args, paths, sender=False) -> list:
    """The rsync server command for a push (or, sender=True, a pull), or Refuse: known options, one configured path."""
    if len(args) < 4 or args[0] != "--server" or args[-2] != ".":
        raise Refuse("not an rsync push")
    if (args[1] == "--sender") != sender:
        raise Refuse("a pull where a push was asked, or the reverse")
    if sender:
        args = [args[0], *args[2:]]
    m = _FLAGS.match(args[1])
    # "b" (--backup) is the receiver's decision on a push (kept versions), never the sender's.
    letters = _PUSH_LETTERS if sender else _PUSH_LETTERS - {"b"}
    if m is None or not set(m["opts"]) <= letters:
        raise Refuse(f"rsync options {args[1]!r} not allowed")
    options = iter(args[2:-2])
    for opt in options:
        name = opt.split("=", 1)[0]
        # A puller's backup options reach us too (the folder as the next word); a
        # sender writes nothing, so they are harmless here.
        if sender and opt in ("--backup", "--backup-dir"):
            if opt == "--backup-dir":
                next(options, None)
            continue
        # rsync forwards --modify-window=-1 as "-@-1".
        if not (opt in _LONG_OPTIONS or ("=" in opt and name in _VALUED_OPTIONS) or opt == "-@-1"):
            raise Refuse(f"rsync option {opt!r} not allowed")
    dest = os.path.normpath(args[-1]) if args[-1].startswith("/") else None
    if dest not in paths:
        raise Refuse(f"{args[-1]!r} is not a mirrored path")
    if sender:
        return ["rsync", args[0], "--sender", *args[1:-1], dest + "/"]
    return ["rsync", *args[:-1], dest + "/"]


def serve_push(cfg: Config, args, chan) -> int:
    ns, rest = _sender(args)
    ticket = None
    if rest[:1] == ["--ticket"] and len(rest) > 1:
        ticket, rest = rest[1], rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    argv = rsync_server_argv(rest, cfg.paths)
    if ticket is not None:
        _park(ns.sender, ticket, chan)
    fd = _admit_write(cfg, ns.sender, ns.epoch)
    if cfg.replication.keep_versions_days:
        # rsync moves aside whatever this push deletes or overwrites (see versions.py).
        root = os.path.normpath(argv[-1])
        argv = argv[:-2] + versions.backup_options(cfg, root, time.time()) + argv[-2:]
    return chan.become(argv, lock_fd=fd)


def _park(sender: str, ticket: str, chan):
    """A push opened ahead (warm.py) waits here for its go; admitted only after it, like any push then."""
    if chan.parking is None:
        raise Refuse("a push opened ahead needs this node's daemon")
    if not warm.valid_ticket(ticket):
        raise Refuse(f"malformed ticket {ticket!r}")
    if not chan.parking.park(sender, ticket):
        raise Refuse("a push opened ahead was not sent in time")


def serve_go(cfg: Config, args, chan) -> int:
    """Over a link: let the sender's parked push with this ticket go on; answers whether there was one."""
    ns, rest = _sender(args)
    if ns.sender not in cfg.nodes or ns.sender == cfg.node:
        raise Refuse(f"unknown sender {ns.sender!r}")
    chan.answer(chan.parking is not None and len(rest) == 1 and chan.parking.go(ns.sender, rest[0]))
    return ExitCode.OK


def _master_for(cfg: Config, sender: str):
    if sender not in cfg.nodes or sender == cfg.node:
        raise Refuse(f"unknown sender {sender!r}")
    current = state_mod.load(cfg)
    if current.role is not Role.MASTER:
        raise Refuse(f"this node is {current.role.value}, not the master")
    return current


def serve_pull(cfg: Config, args, chan) -> int:
    """A returning node reads this master's tree (restore): rsync as the sender, nothing written here."""
    ns, rest = _sender(args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    argv = rsync_server_argv(rest, cfg.paths, sender=True)
    _master_for(cfg, ns.sender)
    return chan.become(argv)


def serve_changes(cfg: Config, args, chan) -> int:
    """The paths this master changed since it was promoted: [[path, rel], ...]."""
    ns, _ = _sender(args)
    current = _master_for(cfg, ns.sender)
    changed = journal.since(cfg.state_dir, current.promoted_seq)
    chan.answer(sorted([cfg.paths[root], os.fsdecode(rel)] for root, rel in changed if root < len(cfg.paths)))
    return ExitCode.OK


def serve_rejoined(cfg: Config, args, chan) -> int:
    """A restored node follows us now: push to it without waiting out the backoff."""
    ns, _ = _sender(args)
    _master_for(cfg, ns.sender)
    try:
        _local(cfg, chan, "peer_rejoined", name=ns.sender)
    except DaemonNotRunning:
        pass
    chan.answer({"ok": True})
    return ExitCode.OK


def serve_put(cfg: Config, args, chan) -> int:
    """A slave puts a kept version back (`fmirror versions restore`): one file, inside the paths, from stdin."""
    ns, rest = _sender(args)
    current = _master_for(cfg, ns.sender)
    if ns.epoch != current.epoch:
        raise Refuse(f"sender epoch {ns.epoch} is not this master's epoch {current.epoch}: only its slaves put files")
    try:
        req = versions.parse_put(rest)
    except ValueError as e:
        raise Refuse(str(e)) from None
    where = versions.locate(cfg.paths, req.path) if req.path.startswith("/") else None
    if where is None:
        raise Refuse(f"{req.path!r} is not inside a mirrored path")
    target = safe_target(*where)
    if os.path.isdir(target) and not os.path.islink(target):
        raise Refuse(f"{req.path!r} is a directory here")
    versions.receive(target, chan.stdin, req)
    chan.answer({"ok": True})
    return ExitCode.OK


def safe_target(root: str, rel: str) -> bytes:
    """root/rel, refused unless rel stays inside root without passing through a symlink."""
    parts = os.fsencode(rel).split(b"/")
    if not rel or rel.startswith("/") or any(p in (b"", b".", b"..") for p in parts):
        raise Refuse(f"path {rel!r} escapes the mirrored path")
    path = os.fsencode(root)
    for part in parts[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise Refuse(f"path {rel!r} passes through a symlink")
    return os.path.join(path, parts[-1])


def serve_link(cfg: Config, args, chan) -> int:
    """A peer's requests one per line (link.py), until it closes the link or this node's configuration changes.

    Each request goes through main() as if it came alone; the link itself
    only saves starting a process for it.
    """
    ns, _ = _sender(args)
    if ns.sender not in cfg.nodes or ns.sender == cfg.node:
        raise Refuse(f"unknown sender {ns.sender!r}")
    stamp = locations.config_stamp(cfg.path)
    for line in chan.stdin:
        if locations.config_stamp(cfg.path) != stamp:
            break      # the peer sends again the ordinary way, which reads the file anew
        try:
            command, data = protocol.read_link_request(line)
        except ValueError:
            break
        inner = channel_mod.captured(data, parking=chan.parking, daemon=chan.daemon)
        verb = command.split(None, 2)[1:2]
        if verb and verb[0] in protocol.LINKED:
            status = main(cfg, command, inner)
        else:
            inner.say(f"fmirror serve: {verb[0] if verb else command!r} requests do not go over a link")
            status = ExitCode.USAGE
        chan.stdout.write(protocol.link_answer(status, inner.stdout.getvalue(), inner.stderr.getvalue()))
        chan.stdout.flush()
    return ExitCode.OK


def serve_rename(cfg: Config, args, chan) -> int:
    """Apply renames [[root, old, new, [[dir, mtime_ns], ...]], ...] from stdin; each one applied or skipped.

    The directories' mtimes are the master's after its rename: set here after
    ours, they spare the master a push for them (pusher._dir_times).
    """
    ns, _ = _sender(args)
    fd = _admit_write(cfg, ns.sender, ns.epoch)
    try:
        requests = json.load(chan.stdin)
        results = []
        for request in requests:
            if not (isinstance(request, list) and len(request) == 4):
                raise Refuse(f"rename request {request!r} is not [root, old, new, times]")
            root, old, new, times = request
            if not (isinstance(times, list) and all(isinstance(t, list) and len(t) == 2 for t in times)):
                raise Refuse(f"rename times {times!r} are not [[dir, mtime_ns], ...]")
            if root not in cfg.paths:
                raise Refuse(f"{root!r} is not a mirrored path")
            src, dst = safe_target(root, old), safe_target(root, new)
            dirs = [(safe_target(root, rel) if rel else os.fsencode(root), _mtime(t)) for rel, t in times]
            if cfg.replication.keep_versions_days and os.path.lexists(src):
                versions.keep(cfg, root, new, dst, time.time())
            # Not done unless the times are set too: the master then pushes both names.
            results.append(_rename(src, dst) and all(_set_dir_mtime(path, ns) for path, ns in dirs))
        chan.answer(results)
    finally:
        os.close(fd)
    return ExitCode.OK


def _mtime(value) -> int:
    if type(value) is not int:
        raise Refuse(f"mtime {value!r} is not a number of nanoseconds")
    return value


def _set_dir_mtime(path: bytes, mtime_ns: int) -> bool:
    # Directories only: a file's mtime must keep telling rsync's quick check whether its
    # content is here.
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return False
        os.utime(path, ns=(st.st_atime_ns, mtime_ns), follow_symlinks=False)
    except OSError:
        return False
    return True


def _rename(src: bytes, dst: bytes) -> bool:
    # Skipped when the slave does not have the source yet, or the target is a
    # non-empty directory: the push that follows sends the new path anyway.
    if not os.path.lexists(src) or not os.path.isdir(os.path.dirname(dst)):
        return False
    try:
        os.rename(src, dst)
    except OSError:
        return False
    return True
