"""`fmirror demo`, README's first command, plays its whole story on a lab of its own."""

import subprocess

from fmirror.lab import FMIRROR

from conftest import require_lab

DEMO_TIMEOUT = 300


def test_the_demo_plays_to_the_end_and_tears_its_lab_down():
    require_lab()
    result = subprocess.run([FMIRROR, "demo"], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=DEMO_TIMEOUT)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-2000:] + out[-2000:]
    assert "both trees are identical" in out and "failback done" in out
    assert "lab torn down; nothing left behind" in out
