"""The README runbook, run as written on lab hosts named alpha and beta.

Each block tagged `<!-- runbook: HOSTS -->` runs with bash on those hosts, in
order. Only lines marked `# lab: skip` are left out; `# lab: daemon` starts
the daemon where the runbook uses systemd. The lab keeps authorized_keys in
its private /etc/fmirror and has one shared /tmp, so those two paths are
mapped; nothing else is changed.
"""

import os
import re
import sys
from pathlib import Path

from fmirror.lab import trees
from fmirror.lab.mirror import status
from fmirror.lab.wait import wait_until

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- runbook: ([^>]*?) -->\n```sh\n(.*?)```", re.S)
LAB_PATHS = {"/root/.ssh/authorized_keys": "/etc/fmirror/authorized_keys", "/tmp/peer.pub": "/run/peer.pub"}
VENV_BIN = str(Path(sys.executable).parent)


def runbook_blocks():
    """[(hosts, after_failure, lab script, starts the daemon)] in README order."""
    out = []
    for m in BLOCK.finditer(README.read_text()):
        words = m.group(1).split()
        lines, daemon = [], False
        for line in m.group(2).splitlines():
            if line.rstrip().endswith("# lab: skip"):
                continue
            if line.rstrip().endswith("# lab: daemon"):
                daemon = True
                continue
            lines.append(line)
        script = "\n".join(lines)
        for real, lab in LAB_PATHS.items():
            script = script.replace(real, lab)
        out.append(([w for w in words if w in ("alpha", "beta")], "after-failure" in words, script, daemon))
    return out


def _run(lab, host, script):
    env = ["env", f"PATH={VENV_BIN}:{os.environ['PATH']}"]
    result = lab[host].run(env + ["bash", "-e", "-c", script], timeout=300, check=False)
    assert result.returncode == 0, f"runbook block on {host} failed:\n{script}\n{result.stderr.decode()}"
    return result.stdout.decode()


def _ready(lab, host):
    try:
        st = status(lab, host)
    except Exception:
        return False
    if not st["daemon"]["running"]:
        return False
    return st["role"] != "master" or all(x["last_full_sync"] for x in st.get("slaves", {}).values())


def _exchange_keys(lab):
    for a, b in (("alpha", "beta"), ("beta", "alpha")):
        lab[b].path("/run/peer.pub").write_bytes(lab[a].path("/etc/fmirror/id_ed25519.pub").read_bytes())


def _fail_and_return(lab, host, survivor):
    lab.link_down(host)
    wait_until(lambda: status(lab, survivor)["role"] == "master", 60, f"{survivor} took over")
    lab.link_up(host)
    wait_until(lambda: status(lab, host)["role"] == "suspended", 60, f"{host} suspended")


def test_readme_runbook_works_as_written(make_lab):
    blocks = runbook_blocks()
    assert len(blocks) >= 8
    lab = make_lab(hosts=("alpha", "beta"))
    assert (lab["alpha"].address, lab["beta"].address) == ("198.51.100.20", "198.51.100.21")
    for host in ("alpha", "beta"):       # the runbook makes its own keys
        for suffix in ("", ".pub"):
            lab[host].path("/etc/fmirror/id_ed25519" + suffix).unlink()
    outputs = []
    for hosts, after_failure, script, daemon in blocks:
        if "/run/peer.pub" in script:
            _exchange_keys(lab)
        if after_failure:
            _fail_and_return(lab, hosts[0], "alpha" if hosts[0] == "beta" else "beta")
        for host in hosts:
            if script.strip():
                outputs.append(_run(lab, host, script))
            if daemon:
                lab.start_daemon(host)
        if daemon:   # systemctl returns once the unit said READY=1: wait as it would
            for host in hosts:
                wait_until(lambda h=host: _ready(lab, h), 60, f"daemon on {host} ready")
    assert any("replicated" in out for out in outputs)
    wait_until(lambda: status(lab, "beta")["role"] == "master", 60, "beta master after the failback")
    assert status(lab, "alpha")["role"] == "slave"
    trees.wait_equal(lab["beta"].path("/srv/www"), lab["alpha"].path("/srv/www"), 60)
