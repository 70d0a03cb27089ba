"""The trees the scenarios write, and what the slave must end up holding.

Writers return a manifest {relative path: size} of the files they made, so a
convergence check knows what to wait for without walking the master.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from fmirror.lab import Lab

from bench.tools import MASTER, ROOT, SLAVE

CHUNK = 1 << 20
# Scale trees get one fixed mtime on both sides: "already in sync" for rsync -a.
SYNCED_MTIME_NS = 1_700_000_000 * 10**9


@dataclass(frozen=True)
class Burst:
    dirs: int          # 0: the files go straight into the burst directory
    files: int         # per directory (or in all, when dirs is 0)
    size: int

    @property
    def label(self) -> str:
        count = self.files * max(self.dirs, 1)
        where = f" in {self.dirs:,} dirs" if self.dirs else ""
        return f"{count:,} files of {human(self.size)}{where}"


def human(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    if size >= 10**6 and size % 10**6 == 0:
        return f"{size // 10**6} MB"
    return f"{size} B"


def fresh(lab: Lab, hosts=(MASTER, SLAVE)):
    """Empty mirrored roots on both hosts (the tools are stopped), and nothing left to write back.

    Without the sync each run's writer paid for the previous run's writeback
    (tens of thousands of files written and removed): a burst written beside
    the second tool took up to 3x as long as the same burst on a quiet disk.
    """
    for host in hosts:
        root = lab[host].path(ROOT)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
    os.sync()


def write_file(path: Path, size: int, filler: bytes) -> None:
    """size bytes made of filler (random, so no tool gains by compression or deltas)."""
    with open(path, "wb") as f:
        left = size
        while left:
            piece = filler[:min(left, len(filler))]
            f.write(piece)
            left -= len(piece)


def write_burst(root: Path, burst: Burst, under: str = "burst") -> dict:
    """Write the burst under root/under as fast as Python can; its manifest."""
    base = root / under
    manifest = {}
    dirs = [base / f"d{i:04d}" for i in range(burst.dirs)] if burst.dirs else [base]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        for j in range(burst.files):
            path = d / f"f{j:05d}"
            # Random bytes leave compression nothing to gain; a big file repeats one random
            # 1 MiB piece, which keeps the writer small and costs rsync the same (no basis file).
            write_file(path, burst.size, os.urandom(min(burst.size, CHUNK)))
            manifest[str(path.relative_to(root))] = burst.size
    return manifest


def write_scale_tree(roots: list[Path], files: int, per_dir: int = 10, dirs_per_group: int = 1000,
                     size: int = 100) -> int:
    """The same tree with the same mtimes under every root: already in sync. Returns dirs made."""
    payload = b"s" * size
    dirs = []
    for i in range(files // per_dir):
        rel = Path("scale") / f"g{i // dirs_per_group:04d}" / f"d{i:06d}"
        dirs.append(rel)
        for root in roots:
            (root / rel).mkdir(parents=True, exist_ok=True)
            for j in range(per_dir):
                path = root / rel / f"f{j}"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, payload)
                finally:
                    os.close(fd)
                os.utime(path, ns=(SYNCED_MTIME_NS, SYNCED_MTIME_NS))
    # Directory mtimes last: every file created in a directory moved its mtime.
    parents = {rel.parent for rel in dirs} | {Path("scale")}
    for root in roots:
        for rel in dirs + sorted(parents, key=lambda p: -len(p.parts)):
            os.utime(root / rel, ns=(SYNCED_MTIME_NS, SYNCED_MTIME_NS))
    return len(dirs) + len(parents)
