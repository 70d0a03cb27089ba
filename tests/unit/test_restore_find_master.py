"""Restore's first question, who is master now: asked again once when the link just healed."""

import json
from types import SimpleNamespace

import pytest

from fmirror import restore, ssh
from fmirror.errors import Refused

SLAVE = SimpleNamespace(name="slave", address="198.51.100.2")
CFG = SimpleNamespace(peers=[SLAVE], nodes={"slave": SLAVE})
LIVE = SimpleNamespace(epoch=1)
MASTER_STATE = {"node": "slave", "role": "master", "epoch": 2}


def answering(outcomes):
    """A stand-in for ssh.call that gives each outcome in turn: an exception to raise, or a state to answer."""
    calls = []

    def call(cfg, peer, words, **kwargs):
        calls.append(peer.name)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return json.dumps(outcome).encode()
    return call, calls


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(restore, "UNREACHABLE_RETRY", 0.0)


def test_a_peer_unreachable_at_first_is_asked_once_more(monkeypatch):
    call, calls = answering([ssh.PeerUnreachable("slave", "No route to host"), MASTER_STATE])
    monkeypatch.setattr(ssh, "call", call)
    node, state = restore.find_master(CFG, LIVE)
    assert (node.name, state["epoch"], calls) == ("slave", 2, ["slave", "slave"])


def test_a_peer_still_unreachable_is_named_with_its_error(monkeypatch):
    unreachable = ssh.PeerUnreachable("slave", "No route to host")
    call, calls = answering([unreachable, unreachable])
    monkeypatch.setattr(ssh, "call", call)
    with pytest.raises(Refused, match="slave did not answer: .*No route to host"):
        restore.find_master(CFG, LIVE)
    assert calls == ["slave", "slave"]


def test_a_refusal_is_not_asked_again(monkeypatch):
    call, calls = answering([ssh.PeerRefused("slave", SimpleNamespace(reason="no", role="slave", epoch=2))])
    monkeypatch.setattr(ssh, "call", call)
    with pytest.raises(Refused):
        restore.find_master(CFG, LIVE)
    assert calls == ["slave"]
