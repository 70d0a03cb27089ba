"""The bench's lab gets an ext4 of its own, with a journal, and leaves nothing mounted behind."""

import os
from pathlib import Path

import pytest

from bench import disk


def mount_of(path: Path):
    """(device, fstype) of the filesystem mounted exactly at path, or None."""
    for line in Path("/proc/mounts").read_text().splitlines():
        device, point, fstype = line.split()[:3]
        if point == str(path):
            return device, fstype
    return None


def test_the_lab_runs_on_a_journaled_ext4_image_unmounted_after(tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("must run in CI: needs root to mount")
        pytest.skip("needs root to mount")
    with disk.scratch(tmp_path) as (where, described):
        assert described.startswith("ext4 with a journal"), described
        device, fstype = mount_of(where)
        assert fstype == "ext4" and device.startswith("/dev/loop")
        # jbd2 names a journal by its device: the image's filesystem has one.
        assert f"{Path(device).name}-8" in os.listdir("/proc/fs/jbd2")
        (where / "file").write_bytes(b"x" * 4096)
    assert mount_of(where) is None
    assert not (tmp_path / "lab.img").exists()
