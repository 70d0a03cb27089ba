"""`fmirror demo`: a lab of real hosts on this machine, and the story told with timings.

Scene 1 (mirroring): a master mirrors a small web site live to a slave.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from fmirror.errors import ExitCode, Failed
from fmirror.lab import Lab, mirror, trees, unavailable_reason
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


def scene_mirroring(lab: Lab, clock: Clock):
    step("Scene 1: live mirroring")
    cfg = mirror.config(lab, log_level="info")
    mirror.install(lab, cfg)
    m, s = lab["master"].path("/srv/www"), lab["slave"].path("/srv/www")
    sample_site(m)
    say(f"{clock} the master holds a web site: {sum(1 for _ in m.rglob('*'))} files in /srv/www")
    started = time.monotonic()
    mirror.start(lab, cfg)
    say(f"{clock} daemons up on master and slave; first full reconciliation done in "
        f"{time.monotonic() - started:.2f} s")
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


def demo(keep: bool = False) -> int:
    reason = unavailable_reason()
    if reason:
        raise Failed(f"the demo cannot run here: {reason}")
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="fmirror-demo-") as work:
        step("Building the lab: real hosts (network, mount and UTS namespaces) on this machine")
        with Lab(Path(work), hosts=("master", "slave", "client")) as lab:
            lab.start()
            for name in ("master", "slave", "client"):
                say(f"{clock} host {name:7s} {lab[name].address}  (own sshd, /srv, /etc/fmirror, /var/lib/fmirror)")
            scene_mirroring(lab, clock)
            if keep and sys.stdin.isatty():
                input(f"\nThe lab is up under {work}; press Enter to tear it down. ")
    step(f"{clock} lab torn down; nothing left behind")
    return ExitCode.OK
