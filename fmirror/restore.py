"""`fmirror restore`: bring a suspended node back after a failover, destroying nothing.

1. Ask the current master (its epoch must be higher); every difference the
   pull finds is classified with both journals: changed here after the fork,
   changed on the master since, both, or neither.
2. With --dry-run, or before asking for confirmation, an rsync dry run
   shows that report, and with --dry-run that is all.
3. Reverse-sync each path from the master with rsync --backup into a rescue
   folder: rsync itself moves aside every file it overwrites or deletes, so
   even a change made on the master after the report is kept. With --yes
   there is no dry run: the report is what this pull did (one walk of the
   tree, not two).
4. Only when every path is in: become the master's slave, at its epoch.
   An interrupted restore leaves the node suspended; run it again.
"""

import concurrent.futures
import json
import os
import sys
import time

from fmirror import control, journal, process, protocol, rsync, ssh, state as state_mod
from fmirror.config.model import Config, Role
from fmirror.errors import DaemonNotRunning, Error, ExitCode, Failed, Refused

CATEGORIES = {
    "here": "changed here after the fork (kept in the rescue folder, then replaced by the master's)",
    "master": "changed on the master since the failover (copied here)",
    "both": "changed on both sides: conflict (this side's version kept in the rescue folder)",
    "unknown": "differs, origin not recorded (kept in the rescue folder if replaced)",
}


# A restore often follows a link that just healed, and the kernel can still
# answer "No route to host" for a few seconds: it fails what waited on an
# address resolution begun while the link was down. One more try, a
# resolution later, gets through.
UNREACHABLE_RETRY = 1.5


def _ask_state(cfg: Config, peer) -> dict:
    request = protocol.request("state")
    try:
        return json.loads(ssh.call(cfg, peer, request, timeout=15))
    except ssh.PeerUnreachable:
        time.sleep(UNREACHABLE_RETRY)
        return json.loads(ssh.call(cfg, peer, request, timeout=15))


def find_master(cfg: Config, live) -> tuple:
    """(node, its state) of the current master, which must have a higher epoch than ours."""
    answers, failures = {}, {}
    for peer in cfg.peers:
        try:
            answers[peer.name] = _ask_state(cfg, peer)
        except (Error, ValueError) as e:
            failures[peer.name] = str(e)
    masters = [(st["epoch"], name) for name, st in answers.items() if st.get("role") == Role.MASTER.value]
    if not masters:
        reached = [f"{n}: {st.get('role')}" for n, st in answers.items()]
        reached += [f"{n} did not answer: {why}" for n, why in failures.items()]
        raise Refused(f"no current master found among the peers ({'; '.join(reached)})")
    epoch, name = max(masters)
    if epoch <= live.epoch:
        raise Refused(f"{name} is master at epoch {epoch}, not above this node's epoch {live.epoch}: "
                      "nothing newer to restore from")
    return cfg.nodes[name], answers[name]


def _inside(rel: bytes, changed: set) -> bool:
    """rel or one of its parent directories is in changed (a directory pushed whole)."""
    parts = rel.split(b"/")
    return any(b"/".join(parts[:i]) in changed for i in range(1, len(parts) + 1))


def action(code: str) -> str | None:
    """What the pull does to a path here, from its itemize code; None for no loss (a new dir, a dir's time)."""
    if code.startswith("*deleting"):
        return "delete"
    if code[1] == "d":
        return None
    if code[2:5] == "+++":
        return "create"
    return "overwrite"


def their_changes(cfg: Config, live, master) -> set:
    """{(root index, rel)} the master's journal has since the failover."""
    raw = json.loads(ssh.call(cfg, master, protocol.request("changes", "--epoch", live.epoch, "--from", cfg.node),
                              timeout=60))
    return {(cfg.paths.index(p), os.fsencode(rel)) for p, rel in raw if p in cfg.paths}


def our_changes(cfg: Config, live, master) -> set:
    """{(root index, rel)} our journal has after the fork: the last point the master acknowledged from us."""
    fork = live.peers[master.name].acked_seq if master.name in live.peers else 0
    return journal.since(cfg.state_dir, fork)


def divergence(cfg: Config, live, master, mine: set, theirs: concurrent.futures.Future,
               rescue: str | None = None) -> list:
    """[{path, root, rel, action, category, size_here, size_master}] of what differs from the master.

    Without rescue: a dry run, nothing changes here. With it: the pull itself, rsync keeping
    what it replaces under rescue; the sizes here are then those of the copies kept there.
    mine: our_changes(); theirs: their_changes(), asked for while the pulls run.
    """
    pulled = []
    for root in cfg.paths:
        kept = rescue + root if rescue else None
        pulled.append((root, kept, _pull(cfg, live, master, root, dry_run=kept is None, backup_dir=kept)))
    report = []
    for index, (root, kept, result) in enumerate(pulled):
        mine_here = {rel for r, rel in mine if r == index}
        theirs_here = {rel for r, rel in theirs.result() if r == index}
        for code, length, rel in rsync.parse_itemized(result.stdout):
            what = action(code)
            if what is None:
                continue
            here, there = _inside(rel, mine_here), _inside(rel, theirs_here)
            category = "both" if here and there else "here" if here else "master" if there else "unknown"
            full = os.path.join(os.fsencode(root), rel)
            was = os.path.join(os.fsencode(kept), rel) if kept else full
            size_here = os.lstat(was).st_size if what != "create" and os.path.lexists(was) else None
            report.append({"path": os.fsdecode(full), "root": root, "rel": os.fsdecode(rel), "action": what,
                           "category": category, "size_here": size_here,
                           "size_master": None if what == "delete" else length})
    return report


def _pull(cfg, live, master, root, dry_run=False, backup_dir=None):
    ssh.prepare(cfg)
    source = rsync.remote_dest(cfg.transport.ssh_user, master.address, root)
    argv = rsync.pull_argv(cfg, ssh.rsh(cfg), protocol.pull_rsync_path(live.epoch, cfg.node), source, root,
                           dry_run=dry_run, backup_dir=backup_dir)
    result = process.run(argv, check=False)
    refusal = protocol.find_refusal(result.stderr.decode("utf-8", "replace"))
    outcome = rsync.interpret(result.returncode, refusal is not None)
    if outcome is not rsync.Outcome.OK:
        reason = refusal.reason if refusal else f"rsync exit {result.returncode}: {process.stderr_tail(result.stderr)}"
        raise Failed(f"reading {root} from {master.name} failed: {reason}; nothing changed here for it, "
                     "run `fmirror restore` again")
    return result


def render(report: list, master_name: str, done: bool = False) -> str:
    """done: the report of the pull itself, not of a dry run."""
    lines = [f"divergence from {master_name}: {len(report)} paths {'differed' if done else 'differ'}"]
    for category, title in CATEGORIES.items():
        rows = [r for r in report if r["category"] == category]
        size = sum(r["size_here"] or 0 for r in rows if r["action"] != "create")
        lines.append(f"  {len(rows):6d} {title}; {size} bytes here {'were' if done else 'would be'} replaced")
    for category, title in CATEGORIES.items():
        rows = [r for r in report if r["category"] == category]
        if rows:
            lines.append(f"\n{title}:")
            lines += [f"  {r['action']:9s} {r['path']!r}" for r in rows]
    return "\n".join(lines)


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("restore replaces files here (every one is kept in the rescue folder first); "
                      "no terminal to ask on: confirm with --yes")
    if input("Proceed with the restore? [y/N] ").strip().lower() not in ("y", "yes"):
        raise Refused("restore not confirmed")


def _rescue_dir(cfg, master_state) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return os.path.join(cfg.state_dir, "rescue", f"{master_state['epoch']}-{stamp}")


def restore(cfg: Config, dry_run=False, failback=False, yes=False, as_json=False) -> int:
    live = state_mod.load(cfg)
    if live.role is not Role.SUSPENDED:
        raise Refused(f"this node is {live.role.value}, not suspended: there is nothing to restore")
    master, master_state = find_master(cfg, live)
    # The master's journal is asked for while the pull runs: one round trip less to wait for.
    asking = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    theirs = asking.submit(their_changes, cfg, live, master)
    asking.shutdown(wait=False)
    mine = our_changes(cfg, live, master)

    def show(report, done=False):
        print(json.dumps(report, indent=1) if as_json else render(report, master.name, done), flush=True)
    if dry_run or not yes:
        show(divergence(cfg, live, master, mine, theirs))
        if dry_run:
            return ExitCode.OK
        _confirm(yes)
    rescue = _rescue_dir(cfg, master_state)
    os.makedirs(rescue, mode=0o700)

    def started(s):
        s.restore = {"master": master.name, "epoch": master_state["epoch"],
                     "rescue": (s.restore or {}).get("rescue", []) + [rescue]}
    live = state_mod.update(cfg, started)
    report = divergence(cfg, live, master, mine, theirs, rescue=rescue)
    with open(os.path.join(rescue, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(rescue, "report.txt"), "w") as f:
        f.write(render(report, master.name, done=True) + "\n")
    if yes:
        show(report, done=True)
    reason = f"restored from {master.name}; replaced files kept in {', '.join(live.restore['rescue'])}"
    _rejoin(cfg, master_state["epoch"], master.name, reason)
    try:
        ssh.call(cfg, master, protocol.request("rejoined", "--epoch", master_state["epoch"], "--from", cfg.node),
                 timeout=15)
    except Error:
        pass  # the master's pusher finds us on its next retry anyway
    print(f"restore done: this node is now a slave of {master.name} at epoch {master_state['epoch']}; "
          f"every file it replaced or deleted is in {rescue}")
    if failback:
        return _failback(cfg, master)
    return ExitCode.OK


def _rejoin(cfg, epoch, master, reason):
    try:
        control.call(cfg.state_dir, "rejoin", timeout=30, epoch=epoch, master=master, reason=reason)
    except DaemonNotRunning:
        def change(s):
            s.role, s.epoch, s.master, s.reason, s.role_since, s.restore = (
                Role.SLAVE, epoch, master, reason, time.time(), None)
        state_mod.update(cfg, change)


def _failback(cfg, master) -> int:
    """A switchover back: the master drains to us, lets go, and we promote."""
    live = state_mod.load(cfg)
    try:
        control.call(cfg.state_dir, "status", timeout=5)
    except DaemonNotRunning:
        raise Failed("restored, but --failback needs this node's daemon running: start it, then "
                     "run `fmirror switchover`") from None
    words = protocol.request("switchover", "--epoch", live.epoch, "--from", cfg.node)
    result = json.loads(ssh.call(cfg, master, words, timeout=240))
    print(f"failback done: {result['master']} is master again at epoch {result['epoch']}")
    return ExitCode.OK
