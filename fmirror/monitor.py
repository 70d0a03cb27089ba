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


def next_round(scheduled: float, now: float, interval: float) -> float:
    """Rounds keep to a grid of `interval`: a late wake-up does not push every later round back."""
    return scheduled + interval if now - scheduled < interval else now + interval


@dataclass(frozen=True)
class Decision:
    action: Action
    sentence: str


@dataclass(frozen=True)
class View:
    """What a slave knows after a round, besides the master's verdict."""
    failover: bool = True                 # a floating IP is configured: failover exists at all
    mode: FailoverMode = FailoverMode.AUTOMATIC
    witness: str | None = None
    witness_ok: bool = False
    other_slaves: tuple = ()              # the other slaves, in config order, with reachability
    first_reachable: str | None = None    # the first slave in config order this one can reach (maybe itself)
    me: str = ""


def slave_decision(master: Verdict, failures: int, view: View) -> Decision:
    """What a slave does about its master after a round."""
    if master is Verdict.UP:
        return Decision(Action.NONE, "")
    down = f"master down for {failures} rounds"
    if not view.failover:
        return Decision(Action.WAIT_MANUAL, f"{down}; no floating_ip: a pure mirror fails over only "
                                            "by `fmirror failover`")
    if view.witness and not view.witness_ok:
        return Decision(Action.ISOLATED, f"{down} but the witness {view.witness} is unreachable too: "
                                         "I am the isolated one, staying slave")
    if view.other_slaves and not view.witness and not any(ok for _, ok in view.other_slaves):
        # With other slaves around, one that reaches none of them is the likelier one cut off.
        return Decision(Action.ISOLATED, f"{down} and no other slave answers either: I am the isolated one, "
                                         "staying slave")
    if view.first_reachable and view.first_reachable != view.me:
        return Decision(Action.NONE, f"{down}; {view.first_reachable} comes first in the configuration and "
                                     "takes over")
    if view.mode is FailoverMode.MANUAL:
        return Decision(Action.WAIT_MANUAL, f"{down}; failover is manual: waiting for `fmirror failover`")
    witness_part = f", witness {view.witness} reachable" if view.witness else ""
    return Decision(Action.PROMOTE, f"{down}{witness_part}: promoting")


def master_reach(slaves_ok: bool, witness: str | None, witness_ok: bool) -> bool:
    """A good round for a master: it reaches a slave or the witness.

    Without a witness a master never gives up the IP for lack of slaves: with
    two nodes, a dead slave would otherwise take the service down with it.
    """
    return slaves_ok or witness_ok or not witness


def newer_master(my_epoch: int, peers: dict):
    """The peer that shows a higher epoch than ours (name, epoch), or None. peers: name -> state dict.

    A master carries its own epoch and a slave that of the master it follows;
    a suspended node only the epoch it lost at, which proves nothing newer.
    """
    best = None
    for name, st in peers.items():
        epoch = st.get("epoch", 0)
        if st.get("role") in ("master", "slave") and epoch > my_epoch and (best is None or epoch > best[1]):
            best = (name, epoch)
    return best
