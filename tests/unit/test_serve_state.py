"""A state query the daemon serves itself is answered from its memory, not from state.json."""

import json
import os
from types import SimpleNamespace

from fmirror import channel, serve


class Daemon:
    def __init__(self):
        self.reports = []

    def report(self):
        return {"node": "alpha", "role": "master", "epoch": 7, "role_since": 1.0, "master": "alpha",
                "daemon": {"running": True, "unsent": 0, "oldest_unsent_age": None}}

    def heard(self, report):
        self.reports.append(report)


def test_the_serving_daemon_answers_from_memory_and_hears_the_asker(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # A file the answer must not come from: reading it would fail (torn).
    (state_dir / "state.json").write_text("{")
    cfg = SimpleNamespace(state_dir=os.fspath(state_dir), node="alpha", nodes={"alpha": None, "beta": None})
    daemon = Daemon()
    asker = {"node": "beta", "role": "slave", "epoch": 7, "role_since": 2.0, "master": "alpha"}
    chan = channel.captured(json.dumps(asker).encode(), daemon=daemon)
    assert serve.serve_state(cfg, [], chan) == 0
    assert json.loads(chan.stdout.getvalue()) == daemon.report()
    assert daemon.reports == [asker]
