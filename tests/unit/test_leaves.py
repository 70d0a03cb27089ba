"""leaves: which directories a walk may leave unlisted, from their link count and their filesystem."""

import os
import stat

from fmirror.leaves import Leaves, is_leaf, parse_mountinfo

MOUNTINFO = """\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:31 / /data rw,relatime shared:14 master:3 - btrfs /dev/vdb rw,subvol=/
40 22 0:45 /srv /srv/www rw - tmpfs tmpfs rw
bad line
"""


def _st(mode, nlink):
    return os.stat_result((mode, 0, 0, nlink, 0, 0, 0, 0, 0, 0))


def test_mountinfo_gives_each_device_its_type_past_the_optional_fields():
    assert parse_mountinfo(MOUNTINFO) == {os.makedev(254, 1): "ext4", os.makedev(0, 31): "btrfs",
                                          os.makedev(0, 45): "tmpfs"}


def test_only_a_directory_at_two_links_on_a_counting_filesystem_is_a_leaf():
    assert is_leaf(_st(stat.S_IFDIR | 0o755, 2), counting=True)
    assert not is_leaf(_st(stat.S_IFDIR | 0o755, 3), counting=True)     # one subdirectory
    assert not is_leaf(_st(stat.S_IFDIR | 0o755, 1), counting=True)     # count not kept (ext4 past 65,000)
    assert not is_leaf(_st(stat.S_IFDIR | 0o755, 2), counting=False)    # btrfs, unknown: listed
    assert not is_leaf(_st(stat.S_IFLNK | 0o777, 2), counting=True)


def _counting_here(tmp_path) -> bool:
    dev = os.lstat(tmp_path).st_dev
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read()).get(dev) in ("ext2", "ext3", "ext4", "xfs", "tmpfs")


def test_on_disk_a_directory_of_files_is_a_leaf_and_one_with_a_subdirectory_is_not(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a").write_bytes(b"a")
    (tmp_path / "nested" / "sub").mkdir(parents=True)
    os.symlink("files", tmp_path / "link")
    leaves = Leaves()
    assert leaves.leaf(os.fsencode(tmp_path / "files")) == _counting_here(tmp_path)
    assert not leaves.leaf(os.fsencode(tmp_path / "nested"))
    assert not leaves.leaf(os.fsencode(tmp_path / "link"))
    assert not leaves.leaf(os.fsencode(tmp_path / "gone"))


def test_a_device_mountinfo_does_not_name_is_always_listed(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "mountinfo").write_text("")
    assert not Leaves(str(tmp_path / "mountinfo")).leaf(os.fsencode(tmp_path / "files"))
