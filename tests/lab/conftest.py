"""Fixtures for lab tests: real hosts on this machine (see fmirror.lab).

`lab` gives the four default hosts; `make_lab(hosts=("master", "slave"))`
builds smaller or extra labs. Every lab lives under the test's tmp_path and
is torn down after the test; when a test fails, the tails of the labs' logs
(daemons, sshd) are added to its report.
"""

import os
from pathlib import Path

import pytest

from fmirror.lab import DEFAULT_HOSTS, Lab, unavailable_reason

LOG_TAIL_LINES = 40
LAB_DIR = Path(__file__).parent
_labs = pytest.StashKey[list]()


def pytest_collection_modifyitems(items):
    for item in items:
        if LAB_DIR in item.path.parents:
            item.add_marker(pytest.mark.lab)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for lab in item.stash.get(_labs, []):
            for path in lab.log_files():
                tail = path.read_bytes().decode("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
                if tail:
                    report.sections.append((f"lab log {path}", "\n".join(tail)))
    return report


def require_lab():
    reason = unavailable_reason()
    if reason is None:
        return
    # A CI run that silently skipped the lab would prove nothing.
    if os.environ.get("CI"):
        pytest.fail(f"lab tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def make_lab(request, tmp_path):
    """Factory: make_lab(hosts=(...)) -> a started Lab, closed after the test."""
    require_lab()
    labs = request.node.stash.setdefault(_labs, [])

    def make(hosts=DEFAULT_HOSTS) -> Lab:
        lab = Lab(tmp_path / f"lab{len(labs)}", hosts)
        labs.append(lab)
        return lab.start()

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(make_lab) -> Lab:
    """master, slave, witness and client."""
    return make_lab()


from mirror_fixture import mirror, mirror_factory  # noqa: E402,F401  (fixtures for the mirroring tests)
