"""Role changes: promotion, suspension, stepping down, switchover.

Each takes the daemon (`d`) and returns the sentence to log. The epoch is
persisted before anything else changes, so a crash in the middle can never
leave a node acting on an epoch it did not record.
"""

import contextlib
import json
import logging
import os
import time


from fmirror import channel, hooks, journal, protocol, serve, ssh, vip
from fmirror.config.model import Role
from fmirror.errors import Error, Failed, Refused
from fmirror.hooks import Event

log = logging.getLogger(__name__)

RECEIVE_DRAIN = 3.0      # s: running receives may finish before a promotion; then they are stopped
STEP_DOWN_DRAIN = 10.0   # s: a master asked to step down pushes what it still has
SWITCHOVER_DRAIN = 60.0  # s: a planned switchover waits longer for the last changes
DAD_SETTLE = 3.0         # s: for the floating IP to go quiet after its holder let go


@contextlib.contextmanager
def receives_stopped(cfg, timeout: float = RECEIVE_DRAIN):
    """Hold the receive lock exclusively: no push is half-applied while the role changes."""
    fd = serve.open_receive_lock(cfg)
    try:
        if not serve.wait_exclusive(fd, timeout):
            # Its sender is gone (that is why we promote): end it, rsync removes its temp file.
            log.warning("stopping %d receive(s) left by the old master", stop_receivers(cfg))
            if not serve.wait_exclusive(fd, timeout):
                raise Failed(f"a push into this node is still running after {timeout:g} s")
        yield
    finally:
        os.close(fd)


def stop_receivers(cfg) -> int:
    """Terminate the rsync receivers `fmirror serve` started (their pids are files in receivers/)."""
    # Imported here: only a promotion with a receive still running comes this far, and
    # psutil costs every daemon 1.5 MB resident from its start.
    import psutil
    folder = channel.receivers_dir(cfg)
    stopped = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        try:
            proc = psutil.Process(int(name))
            # Only the receiver that wrote this file: a pid may have been reused since.
            if is_receiver(proc.cmdline()) and proc.create_time() <= os.stat(path).st_mtime + 1:
                proc.terminate()
                stopped += 1
        except (ValueError, OSError, psutil.Error):
            pass
        channel.unlink(path)
    return stopped


def is_receiver(cmdline: list) -> bool:
    """What a listed pid runs while it is a receive: rsync's receiver, or the forced command about to become it.

    The daemon lists the forced command's pid before it execs rsync; one caught
    in between and spared would receive after all, holding the lock a promotion
    waits for, and unlisted, out of reach of the next try.
    """
    return "--server" in cmdline or cmdline[-1:] == ["serve"]


def _ip_quiet(cfg, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while vip.someone_answers(cfg):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _make_room(d, new_epoch: int) -> None:
    """Someone answers for the floating IP: ask the master to step down, else fence it, else refuse."""
    cfg, master = d.cfg, d.master_node()
    try:
        answer = json.loads(ssh.call(cfg, master, protocol.request("demote", "--epoch", new_epoch, "--from", cfg.node),
                                     timeout=STEP_DOWN_DRAIN + 15, shared=False))
        log.info("%s stepped down: now %s%s", master.name, answer.get("role"),
                 ", every change drained to us" if answer.get("drained") else "")
        if _ip_quiet(cfg, DAD_SETTLE):
            return
    except Error as e:
        log.warning("could not ask %s to step down: %s", master.name, e)
        # The answer that sent us here is as old as the request: an isolated
        # master drops the IP on its own, and may have done so meanwhile.
        if not vip.someone_answers(cfg):
            log.info("the floating IP went quiet while we asked: %s let go of it", master.name)
            return
    if cfg.hooks.fence:
        if hooks.run(cfg, "fence", cfg.hooks.fence, Event.FENCED.value, d.state.role.value, d.state.epoch, master.name):
            d.events.emit(Event.FENCED, d.state.role.value, d.state.epoch, f"fenced {master.name}")
            if _ip_quiet(cfg, DAD_SETTLE):
                return
    raise Refused(f"the floating IP {cfg.floating_ip.address} still answers and {master.name} could not be made to "
                  "let go of it (no answer to step down, no fence hook or it failed): not promoting, "
                  "two masters would follow")


def promote(d, reason: str, epoch: int | None = None, ip_answered: bool | None = None) -> str:
    """Become master: make room on the floating IP, epoch persisted first, then IP, hook, event."""
    cfg = d.cfg
    new_epoch = epoch if epoch is not None else d.state.epoch + 1
    if cfg.floating_ip:
        # The deciding round's own probe (ip_answered) is as old as that round: a master
        # that died during it answered then. Asked again, a dead one is quiet within the
        # probe's wait, where the step-down request waits out ssh's connect timeout (5 s).
        if ip_answered is not False:
            ip_answered = vip.someone_answers(cfg)
        if ip_answered:
            d.events.release()   # asking or fencing the holder takes seconds: no hook waits for that
            _make_room(d, new_epoch)
    d.stop_runner()
    with receives_stopped(cfg):
        # From here on our journal tells what changed on this side of the fork.
        d.persist(Role.MASTER, new_epoch, cfg.node, reason, promoted_seq=journal.last_seq(cfg.state_dir))

    def claim():
        vip.claim(cfg)
        d.events.release()   # the notify hooks of the round that decided this (SlaveRunner.cycle) may start now

    # Watch before the IP and the promote hook bring writers: every change from now on is tracked.
    d.start_runner(claim_ip=False, watching=claim if cfg.floating_ip else None)
    hooks.run(cfg, "promote", cfg.hooks.promote, Event.PROMOTED.value, "master", new_epoch, reason)
    d.events.emit(Event.PROMOTED, "master", new_epoch, reason)
    d.metrics.failover()
    return f"promoted to master, epoch {new_epoch}: {reason}"


def suspend(d, reason: str, newer: str | None = None) -> str:
    """A newer master exists: let go of everything and wait for `fmirror restore`."""
    cfg = d.cfg
    d.stop_runner()
    if cfg.floating_ip and vip.release(cfg):
        log.info("dropped the floating IP %s", cfg.floating_ip.address)
    hooks.run(cfg, "demote", cfg.hooks.demote, Event.SUSPENDED.value, "suspended", d.state.epoch, reason)
    d.persist(Role.SUSPENDED, d.state.epoch, newer or d.state.master, reason)
    d.events.emit(Event.SUSPENDED, "suspended", d.state.epoch, reason)
    d.start_runner()
    return f"suspended: {reason}; awaiting `fmirror restore`"


def step_down(d, new_epoch: int, requester: str) -> dict:
    """Asked by a slave about to promote: stop service, drop the IP, push what is left, then step aside."""
    cfg, state = d.cfg, d.state
    if state.role is not Role.MASTER:
        return {"role": state.role.value, "drained": False}
    if new_epoch <= state.epoch:
        raise Refused(f"step down to epoch {new_epoch} refused: this master is at epoch {state.epoch}")
    reason = f"{requester} takes over at epoch {new_epoch}"
    hooks.run(cfg, "demote", cfg.hooks.demote, Event.DEMOTED.value, "master", state.epoch, reason)
    if cfg.floating_ip:
        vip.release(cfg)
    drained = d.runner.drain(STEP_DOWN_DRAIN) if d.runner is not None else False
    d.stop_runner()
    if drained:
        # Nothing of ours is missing over there: we can follow the new master right away.
        d.persist(Role.SLAVE, new_epoch, requester, reason)
        d.events.emit(Event.DEMOTED, "slave", new_epoch, reason)
    else:
        d.persist(Role.SUSPENDED, state.epoch, requester, reason + "; unsent changes may remain here")
        d.events.emit(Event.SUSPENDED, "suspended", state.epoch, reason)
    d.start_runner()
    return {"role": d.state.role.value, "drained": drained}


def switchover(d, target: str | None = None) -> dict:
    """Planned swap with no loss: service stopped, last changes drained, IP moved, target promoted."""
    cfg, state = d.cfg, d.state
    if state.role is not Role.MASTER:
        raise Refused(f"switchover starts on the master; this node is {state.role.value}")
    peers = {p.name: p for p in cfg.peers}
    if target is None and len(peers) == 1:
        target = next(iter(peers))
    if target not in peers:
        raise Refused(f"switchover needs a target among {', '.join(peers)}")
    peer = peers[target]
    peer_state = json.loads(ssh.call(cfg, peer, protocol.request("state"), timeout=10))
    if peer_state.get("role") != Role.SLAVE.value:
        raise Refused(f"{target} is {peer_state.get('role')}, not a slave")
    reason = f"switchover to {target}"
    hooks.run(cfg, "demote", cfg.hooks.demote, Event.DEMOTED.value, "master", state.epoch, reason)
    if not d.runner.drain(SWITCHOVER_DRAIN):
        hooks.run(cfg, "promote", cfg.hooks.promote, Event.PROMOTED.value, "master", state.epoch, "switchover aborted")
        raise Failed(f"switchover aborted: {target} did not receive every change within {SWITCHOVER_DRAIN:g} s; "
                     "this node stays master")
    epoch = state.epoch
    d.stop_runner()
    if cfg.floating_ip:
        vip.release(cfg)
    # The target promotes at epoch + 1: record it now, so that a later promotion
    # of ours can never reuse that epoch (two masters of one epoch yield to nobody).
    d.persist(Role.SLAVE, epoch + 1, target, reason)
    try:
        ssh.call(cfg, peer, protocol.request("promote", "--epoch", epoch + 1, "--from", cfg.node), timeout=60)
    except Error as e:
        d.persist(Role.MASTER, epoch, cfg.node, "switchover failed, stayed master")
        if cfg.floating_ip:
            vip.claim(cfg)
        hooks.run(cfg, "promote", cfg.hooks.promote, Event.PROMOTED.value, "master", epoch, "switchover aborted")
        d.start_runner(claim_ip=False)
        raise Failed(f"switchover aborted, this node stays master: {target} did not promote: {e}") from None
    d.events.emit(Event.DEMOTED, "slave", epoch, reason)
    d.start_runner()
    return {"master": target, "epoch": epoch + 1}


def takeover(d, epoch: int, sender: str) -> dict:
    """The target's side of a switchover: the old master has let go; promote at its chosen epoch."""
    if d.state.role is not Role.SLAVE:
        raise Refused(f"this node is {d.state.role.value}, not a slave")
    if epoch <= d.state.epoch:
        raise Refused(f"epoch {epoch} is not above this node's epoch {d.state.epoch}")
    return {"sentence": promote(d, f"switchover from {sender}", epoch=epoch)}


def manual_failover(d, force: bool) -> str:
    """`fmirror failover`: promote now, if the master does not answer (and with --force if it may hold changes)."""
    cfg = d.cfg
    if d.state.role is not Role.SLAVE:
        raise Refused(f"this node is {d.state.role.value}: failover promotes a slave")
    runner = d.runner
    if runner.master_answers():
        raise Refused("the master answers: use `fmirror switchover` for a planned role swap")
    known = runner.master_report_text()
    if not force and not runner.master_was_in_sync():
        raise Refused(f"the master may hold changes that never reached this node ({known}); "
                      "promote anyway with `fmirror failover --force`")
    if force:
        log.warning("forced failover: changes the master did not send may be lost (%s)", known)
        if cfg.hooks.fence:
            if not hooks.run(cfg, "fence", cfg.hooks.fence, Event.FENCED.value, "slave", d.state.epoch, "forced failover"):
                raise Failed("the fence hook failed: not promoting")
            d.events.emit(Event.FENCED, "slave", d.state.epoch, f"fenced {d.master_node().name} before a forced failover")
    return promote(d, f"manual failover{' --force' if force else ''} ({known})")
