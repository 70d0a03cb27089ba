"""A harness ended by SIGTERM (timeout(1), a CI job) tears its lab down before it exits."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fmirror.lab import netns, unavailable_reason

REPO = Path(__file__).resolve().parents[2]
LAB_UNTIL_SIGTERM = """
import sys, time
from pathlib import Path
from bench import interrupt
from fmirror.lab import Lab

def main():
    with Lab(Path(sys.argv[1]), ("master", "slave")) as lab:
        print(" ".join(lab.namespaces), flush=True)
        time.sleep(300)

sys.exit(interrupt.run(main))
"""


def test_a_harness_ended_by_sigterm_tears_its_lab_down(tmp_path):
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"must run in CI: {reason}")
        pytest.skip(reason)
    proc = subprocess.Popen([sys.executable, "-c", LAB_UNTIL_SIGTERM, tmp_path / "lab"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        namespaces = set(proc.stdout.readline().split())
        assert len(namespaces) == 3 and namespaces <= set(netns.names())
        proc.terminate()
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not namespaces & set(netns.names())
    assert proc.stderr.read().strip().splitlines()[-1] == "bench: interrupted"
