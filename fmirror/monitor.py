"""Decisions of the monitor, as pure functions and a small hysteresis counter.

Nothing here touches the network or the disk: the roles feed in what the
probes saw and act on what comes back.
"""

import enum
from dataclasses import dataclass

from fmirror.config.model import FailoverMode


class Verdict(enum.Enum):
    UP = "up"
    DOWN = "down"


class Action(enum.Enum):
    NONE = "none"
    PROMOTE = "promote"
    WAIT_MANUAL = "wait-manual"
    ISOLATED = "isolated"


class Hysteresis:
    """DOWN after `fall` failed rounds in a row, UP again after `rise` good ones."""

    def __init__(self, fall: int, rise: int, verdict: Verdict = Verdict.UP):
        self.fall, self.rise, self.verdict = fall, rise, verdict
        self.failures = 0
        self.successes = 0

    def feed(self, good: bool) -> Verdict | None:
        """Count one round; return the new verdict when it changed."""
        if good:
            self.failures, self.successes = 0, self.successes + 1
            if self.verdict is Verdict.DOWN and self.successes >= self.rise:
                self.verdict = Verdict.UP
                return Verdict.UP
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.verdict is Verdict.UP and self.failures >= self.fall:
                self.verdict = Verdict.DOWN
                return Verdict.DOWN
        return None

    def last_chance(self) -> bool:
        """The next failed round decides DOWN: worth doing that round's DAD at the same time."""
        return self.verdict is Verdict.UP and self.failures >= self.fall - 1


@dataclass(frozen=True)
class Decision:
    action: Action
    sentence: str


def slave_decision(master: Verdict, failures: int, mode: FailoverMode, witness: str | None,
                   witness_ok: bool) -> Decision:
    """What a slave does about its master after a round."""
    if master is Verdict.UP:
        return Decision(Action.NONE, "")
    if witness and not witness_ok:
        return Decision(Action.ISOLATED, f"master down for {failures} rounds but the witness {witness} is "
                                         "unreachable too: I am the isolated one, staying slave")
    if mode is FailoverMode.MANUAL:
        return Decision(Action.WAIT_MANUAL, f"master down for {failures} rounds; failover is manual: "
                                            "waiting for `fmirror failover`")
    witness_part = f", witness {witness} reachable" if witness else ""
    return Decision(Action.PROMOTE, f"master down for {failures} rounds{witness_part}: promoting")


def master_reach(slaves_ok: bool, witness: str | None, witness_ok: bool) -> bool:
    """A good round for a master: it reaches a slave or the witness.

    Without a witness a master never gives up the IP for lack of slaves: with
    two nodes, a dead slave would otherwise take the service down with it.
    """
    return slaves_ok or witness_ok or not witness


def newer_master(my_epoch: int, peers: dict):
    """The peer that shows a higher epoch than ours (name, epoch), or None. peers: name -> state dict."""
    best = None
    for name, st in peers.items():
        epoch = st.get("epoch", 0)
        if epoch > my_epoch and (best is None or epoch > best[1]):
            best = (name, epoch)
    return best
