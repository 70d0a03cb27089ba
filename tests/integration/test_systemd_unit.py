import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "fmirror.service"
INSTALLED_BINARY = "/usr/local/bin/fmirror"


@pytest.fixture
def systemd_analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing in CI: install systemd to check the unit")
        pytest.skip("systemd-analyze is not installed")
    return path


def _unit_for_this_venv(tmp_path) -> Path:
    # verify insists that ExecStart's binary exists; the venv's fmirror stands in for the installed one.
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} daemon" in text
    unit = tmp_path / "fmirror.service"
    unit.write_text(text.replace(INSTALLED_BINARY, str(Path(sys.executable).parent / "fmirror")))
    return unit


def _settings(text: str) -> dict:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_unit_verifies_without_a_single_warning(systemd_analyze, tmp_path):
    unit = _unit_for_this_venv(tmp_path)
    result = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and unparsable values, printing a warning: any line naming the unit fails.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "fmirror.service" in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_unit_keeps_its_promises_to_the_daemon():
    settings = _settings(UNIT.read_text())
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] == "30"
    assert settings["Restart"] == "on-failure"
    # errors.ExitCode.USAGE: a bad config or a torn state file must not restart in a loop.
    assert settings["RestartPreventExitStatus"] == "2"
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # rsync must reproduce setuid bits, and the mirrored paths may be anywhere.
    assert "RestrictSUIDSGID" not in settings and "ProtectSystem" not in settings
