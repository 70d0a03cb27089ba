import json
import os

import pytest

from fmirror import state
from fmirror.config.model import Config, Node, Role
from fmirror.errors import StateError


def _cfg(tmp_path):
    nodes = {"alpha": Node("alpha", "198.51.100.1", Role.MASTER, None),
             "beta": Node("beta", "198.51.100.2", Role.SLAVE, None)}
    return Config(path="t.yaml", node="beta", nodes=nodes, paths=("/srv/www",), state_dir=str(tmp_path / "st"))


def test_missing_state_starts_from_initial_role(tmp_path):
    s = state.load(_cfg(tmp_path))
    assert (s.role, s.epoch) == (Role.SLAVE, 1)


def test_update_round_trips_and_leaves_no_temp_files(tmp_path):
    cfg = _cfg(tmp_path)
    state.update(cfg, lambda s: setattr(s, "epoch", 7))
    assert state.load(cfg).epoch == 7
    assert sorted(os.listdir(cfg.state_dir)) == ["state.json", "state.lock"]


@pytest.mark.parametrize("content,fragment", [
    (b'{"fmirror_state": 1, "node": "beta", "ro', "torn"),
    (b'{"hello": 1}', "not an fmirror state file"),
    (json.dumps({"fmirror_state": 1, "node": "alpha", "role": "slave", "epoch": 1}).encode(), "belongs to node"),
    (json.dumps({"fmirror_state": 1, "node": "beta", "role": "king", "epoch": 1}).encode(), "malformed"),
])
def test_bad_state_file_is_a_clear_error_with_a_way_out(tmp_path, content, fragment):
    cfg = _cfg(tmp_path)
    os.makedirs(cfg.state_dir)
    with open(state.state_path(cfg.state_dir), "wb") as f:
        f.write(content)
    with pytest.raises(StateError) as e:
        state.load(cfg)
    assert fragment in str(e.value)
    assert "mv " in str(e.value)
    assert e.value.exit_code == 2
