"""The lab's own filesystem: a fresh ext4, journal and all as mkfs makes it, on a loop image.

Not the directory the bench starts in, because that one is whatever the
machine has. The machine of 2026-12-07 has its root on an ext4 without a
journal, and there the kernel will not reuse an inode deleted in the last
few minutes: each new file scans past every recently deleted one
(recently_deleted() in fs/ext4/ialloc.c, journal-less filesystems only).
Every run deletes the tree the last one wrote, so 50,000 files of 4 KiB
took 36-48 s of system time to write there, and 4 s on this image
(bench/findings.md): the bursts measured that quirk, for every tool alike,
instead of the tools. A journal is Debian's default, and what a mirrored
server has.

Sparse: the image takes only what the scenarios write. Where no loop device
can be had (a container), the lab stays on the host's directory and the
report says so.
"""

import contextlib
import logging
import os
from pathlib import Path

from fmirror import process
from fmirror.errors import CommandError

log = logging.getLogger("bench")

# Room for the scale scenario's two 1,000,000-file trees, with inodes to spare
# (mkfs's default of one per 16 KiB gives 4 million here).
IMAGE_BYTES = 64 << 30
# Never promise the image more than the disk under it has: a full image's
# writes would fail as I/O errors in the middle of a scenario.
FREE_SHARE = 0.9
HOST_DIR = "the host's directory"


@contextlib.contextmanager
def scratch(work: Path):
    """Yields (a directory for the lab, what filesystem it is on); unmounted on the way out."""
    image, mount = work / "lab.img", work / "lab"
    mount.mkdir()
    try:
        described = _mount(image, mount)
    except (CommandError, OSError) as e:
        log.warning("bench: no ext4 image for the lab (%s); it runs on %s", e, HOST_DIR)
        yield mount, f"{HOST_DIR} ({e})"
        return
    try:
        yield mount, described
    finally:
        if process.run(["umount", str(mount)], check=False).returncode:
            # Still busy (a process of the lab that outlived it): detached now, freed when it ends.
            process.run(["umount", "--lazy", str(mount)], check=False)
        image.unlink(missing_ok=True)


def _mount(image: Path, mount: Path) -> str:
    st = os.statvfs(image.parent)
    size = min(IMAGE_BYTES, int(st.f_bavail * st.f_frsize * FREE_SHARE))
    with open(image, "wb") as f:
        f.truncate(size)
    # A new sparse file reads as zeros already: mkfs need not zero the inode tables or
    # the journal (lazy_*_init), nor the kernel the tables later (noinit_itable: its
    # ext4lazyinit thread would otherwise write ~1 GiB of zeros during the scenarios).
    # nodiscard: nothing to discard either.
    process.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", str(image)])
    process.run(["mount", "-o", "loop,noinit_itable", str(image), str(mount)])
    return f"ext4 with a journal, on a {size / (1 << 30):.0f} GiB sparse loop image"
