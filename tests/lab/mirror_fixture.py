"""The `mirror` fixture: master and slave hosts with fmirror daemons running and synced."""

import pytest

from fmirror.lab import mirror as lab_mirror


class Mirror:
    def __init__(self, lab, cfg):
        self.lab, self.cfg = lab, cfg
        self.master, self.slave = lab["master"], lab["slave"]

    def m(self, path="/srv/www"):
        """A path on the master's real filesystem."""
        return self.master.path(path)

    def s(self, path="/srv/www"):
        return self.slave.path(path)

    def status(self, host="master"):
        return lab_mirror.status(self.lab, host)

    def start(self):
        lab_mirror.start(self.lab, self.cfg)
        return self


@pytest.fixture
def mirror_factory(make_lab):
    """mirror_factory(hosts, nodes, **config sections) -> a Mirror not started yet (seed trees first).

    nodes: the hosts that run fmirror, the first one master, the others slaves.
    """
    def make(hosts=("master", "slave"), nodes=("master", "slave"), **sections):
        lab = make_lab(hosts=hosts)
        cfg = lab_mirror.config(lab, nodes=nodes, **sections)
        lab_mirror.install(lab, cfg)
        return Mirror(lab, cfg)
    return make


@pytest.fixture
def mirror(mirror_factory):
    return mirror_factory().start()
