"""`fmirror demo`: a lab of real hosts on this machine, and the story told with timings.

Scene 1 (mirroring): a master mirrors a small web site live to a slave.
Scene 2 (failover): the master dies; a client polling the floating IP keeps
getting the page, now from the slave.
Scene 3 (restore): the old master comes back with changes of its own; it is
suspended; restore shows the divergence, rescues, rejoins and fails back.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from fmirror.errors import ExitCode, Failed
from fmirror.lab import Lab, client, trees, unavailable_reason
from fmirror.lab.cluster import FLOATING, Cluster, config
from fmirror.lab.wait import wait_until


def say(text=""):
    print(text, flush=True)


def step(text):
    say(f"\n== {text}")


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def __str__(self):
        return f"[{time.monotonic() - self.t0:6.2f} s]"


def sample_site(root: Path, pages=200):
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<h1>Welcome to the demo shop</h1>\n")
    for i in range(pages):
        (root / f"page-{i:03d}.html").write_text(f"<p>page {i}</p>\n" * 20)
    for i in range(20):
        (root / "img" / f"photo-{i:02d}.jpg").write_bytes(os.urandom(64 * 1024))


def appear(path: Path, content: bytes | None = None, timeout=10.0) -> float:
    """Seconds until path exists on the slave (with content, if given)."""
    start = time.monotonic()

    def there():
        try:
            return path.read_bytes() == content if content is not None else path.exists()
        except OSError:
            return False
    wait_until(there, timeout, f"{path} on the slave", interval=0.002)
    return time.monotonic() - start


def scene_mirroring(lab: Lab, clock: Clock) -> Cluster:
    step("Scene 1: live mirroring")
    cluster = Cluster(lab, config(lab, log_level="info"))
    m, s = lab["master"].path("/srv/www"), lab["slave"].path("/srv/www")
    sample_site(m)
    say(f"{clock} the master holds a web site: {sum(1 for _ in m.rglob('*'))} files in /srv/www")
    started = time.monotonic()
    cluster.start()
    say(f"{clock} daemons up on master and slave; first full reconciliation done and the floating IP "
        f"{FLOATING} on the master in {time.monotonic() - started:.2f} s")
    trees.wait_equal(m, s, 30)
    say(f"{clock} the slave's /srv/www is identical (content, modes, mtimes)")

    content = b"<p>Breaking news, written on the master</p>\n"
    (m / "news.html").write_bytes(content)
    say(f"{clock} wrote news.html on the master -> on the slave after {appear(s / 'news.html', content):.3f} s")
    body = (m / "index.html").read_bytes() + b"<p>edited</p>\n"
    (m / "index.html").write_bytes(body)
    say(f"{clock} edited index.html          -> on the slave after {appear(s / 'index.html', body):.3f} s")
    os.rename(m / "img", m / "images")
    say(f"{clock} renamed img/ to images/    -> on the slave after {appear(s / 'images'):.3f} s "
        f"(moved there, not sent again)")
    (m / "page-000.html").unlink()
    start = time.monotonic()
    wait_until(lambda: not (s / "page-000.html").exists(), 10, "deletion on the slave", interval=0.002)
    say(f"{clock} deleted page-000.html      -> gone on the slave after {time.monotonic() - start:.3f} s")
    (m / "order.txt").write_text("order 42: acknowledged only once on the slave\n")
    result = lab.fmirror("master", "wait", "--timeout", "10")
    say(f"{clock} `fmirror wait` exit {result.returncode}: order.txt on the slave: {(s / 'order.txt').exists()}")
    trees.wait_equal(m, s, 30)
    say(f"{clock} trees identical again")
    step("fmirror status on the master")
    say(lab.fmirror("master", "status").stdout.decode())
    return cluster


def scene_failover(cluster: Cluster, clock: Clock):
    step("Scene 2: the master dies")
    lab = cluster.lab
    cluster.start_client()
    wait_until(lambda: any(w == "master" for _, w in cluster.answers()), 10, "client served by the master")
    say(f"{clock} the client polls http://{FLOATING}/ every 50 ms; the master answers")
    cut = time.time()
    lab.link_down("master")
    say(f"{clock} the master's network link is cut")
    found = wait_until(lambda: client.gap(cluster.answers(), "master", "slave"), 30, "client served by the slave")
    # The promoted event comes after the promote hook, which may finish after the first answer.
    events = wait_until(lambda: (lambda ev: ev if "promoted" in ev else None)(
        {e["event"]: e["at"] for e in cluster.status("slave")["events"]}), 30, "promoted event")
    say(f"{clock} timeline, from the cut:")
    say(f"           last answer from the master   {found[0] - cut:+6.2f} s")
    say(f"           slave declares master down     {events['master-down'] - cut:+6.2f} s")
    say(f"           slave promoted (epoch 2)       {events['promoted'] - cut:+6.2f} s")
    say(f"           first answer from the slave    {found[1] - cut:+6.2f} s")
    say(f"{clock} the client saw {found[1] - found[0]:.2f} s without an answer")
    (lab["slave"].path("/srv/www") / "during-outage.html").write_text("<p>written on the new master</p>\n")
    say(f"{clock} the new master keeps working and tracks its changes for when the old one returns")
    (lab["master"].path("/srv/www") / "written-while-cut-off.html").write_text("<p>unsent</p>\n")
    say(f"{clock} meanwhile the cut-off old master got a write that never reached anyone")
    step("fmirror status on the new master")
    say(lab.fmirror("slave", "status").stdout.decode())


def scene_restore(cluster: Cluster, clock: Clock):
    step("Scene 3: the old master comes back")
    lab = cluster.lab
    lab.link_up("master")
    wait_until(lambda: cluster.status("master")["role"] == "suspended", 30, "old master suspended")
    say(f"{clock} it learns of epoch 2 and suspends itself: no IP, no pushes, waits for the operator")
    say(lab.fmirror("master", "status").stdout.decode())
    step("fmirror restore --dry-run (on the old master)")
    say(lab.fmirror("master", "restore", "--dry-run", timeout=120).stdout.decode())
    step("fmirror restore --yes --failback")
    started = time.monotonic()
    result = lab.fmirror("master", "restore", "--yes", "--failback", timeout=300)
    say(result.stdout.decode() + result.stderr.decode())
    say(f"{clock} restore and failback took {time.monotonic() - started:.2f} s")
    cluster.wait_holder("master", 30)
    trees.wait_equal(lab["master"].path("/srv/www"), lab["slave"].path("/srv/www"), 60)
    say(f"{clock} the original master holds {FLOATING} again at epoch 3; both trees are identical")
    rescue = lab["master"].path("/var/lib/fmirror/rescue")
    kept = [p.relative_to(rescue) for p in rescue.rglob("*") if p.is_file() and p.name not in ("report.json", "report.txt")]
    say(f"{clock} kept in the rescue folder: {', '.join(map(str, kept))}")


def demo(keep: bool = False) -> int:
    reason = unavailable_reason()
    if reason:
        raise Failed(f"the demo cannot run here: {reason}")
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="fmirror-demo-") as work:
        step("Building the lab: real hosts (network, mount and UTS namespaces) on this machine")
        with Lab(Path(work)) as lab:
            lab.start()
            for name in lab.hosts:
                say(f"{clock} host {name:7s} {lab[name].address:15s} (own sshd, /srv, /etc/fmirror, /var/lib/fmirror)")
            cluster = scene_mirroring(lab, clock)
            scene_failover(cluster, clock)
            scene_restore(cluster, clock)
            if keep and sys.stdin.isatty():
                input(f"\nThe lab is up under {work}; press Enter to tear it down. ")
    step(f"{clock} lab torn down; nothing left behind")
    return ExitCode.OK
