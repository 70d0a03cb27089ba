"""Reading cgroup v2 files for the bench's idle meter."""

from pathlib import Path

import pytest

from bench.hostcpu import _own_cgroup, cgroup2_root, usage_seconds
from fmirror.errors import Failed

HYBRID = """sysfs /sys sysfs rw 0 0
tmpfs /sys/fs/cgroup tmpfs ro 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0
"""
UNIFIED = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate,memory_recursiveprot 0 0\n"


def test_the_v2_hierarchy_is_found_beside_v1_or_alone():
    assert cgroup2_root(HYBRID) == Path("/sys/fs/cgroup/unified")
    assert cgroup2_root(UNIFIED) == Path("/sys/fs/cgroup")
    with pytest.raises(Failed):
        cgroup2_root("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n")


def test_usage_is_read_in_seconds():
    assert usage_seconds("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n") == 1.5
    with pytest.raises(ValueError):
        usage_seconds("user_usec 1\n")


def test_own_cgroup_is_the_v2_line():
    assert _own_cgroup("9:name=systemd:/\n4:memory:/x\n0::/system.slice/ci.service\n") == "/system.slice/ci.service"
    assert _own_cgroup("0::/\n") == "/"
