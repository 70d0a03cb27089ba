"""Failover on real hosts: the slave watches the master and takes the floating IP, never making two masters."""

import os
import signal
import threading
import time

import pytest

from fmirror.lab import client, netns, trees
from fmirror.lab.cluster import FLOATING, Cluster, config, hook
from fmirror.lab.wait import wait_until

TAKEOVER = 30
ISOLATED_TAKEOVER = 15   # s: 3 rounds, then a step-down that cannot connect


@pytest.fixture
def cluster_factory(make_lab):
    def make(witness=True, **sections):
        lab = make_lab()
        return Cluster(lab, config(lab, witness=witness, **sections))
    return make


@pytest.fixture
def cluster(cluster_factory):
    return cluster_factory().start()


class IpSampler:
    """Samples who holds the floating IP every 20 ms, in the background."""

    def __init__(self, cluster):
        self.cluster, self.samples, self.stop = cluster, [], threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.samples.append(tuple(self.cluster.holders()))
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join()
        return self.samples


def _role(cluster, host):
    return cluster.status(host)["role"], cluster.status(host)["epoch"]


def _mac(cluster, host) -> str:
    out = cluster.lab[host].run(["ip", "-o", "link", "show", "eth0"], check=True).text
    return out.split("link/ether ", 1)[1].split()[0]


def _client_sees_at(cluster, address) -> str:
    return cluster.lab["client"].run(["ip", "neigh", "show", address], check=True).text


def test_master_cut_off_the_slave_takes_over_and_the_client_keeps_getting_answers(cluster):
    cluster.start_client()
    wait_until(lambda: any(w == "master" for _, w in cluster.answers()), 10, "client served by master")
    cluster.lab.link_down("master")
    cluster.wait_holder("slave", TAKEOVER)
    # The gratuitous ARPs moved the client's entry for the floating IP at once: without them it
    # keeps the old master's MAC until the entry goes stale (20-45 s).
    slave_mac = _mac(cluster, "slave")
    wait_until(lambda: slave_mac in _client_sees_at(cluster, FLOATING), 2,
               "the client's ARP entry for the floating IP on the slave's MAC")
    wait_until(lambda: client.gap(cluster.answers(), "master", "slave"), TAKEOVER, "client served by the slave")
    assert _role(cluster, "slave") == ("master", 2)
    # The hooks run once the role is taken: the role can read master a moment before they are recorded.
    promoted = wait_until(lambda: [h for h in cluster.hooks("slave") if h["hook"] == "promote"], 10, "promote hook")
    assert promoted[-1]["FMIRROR_EPOCH"] == "2" and promoted[-1]["FMIRROR_ROLE"] == "master"
    wait_until(lambda: any(h["FMIRROR_EVENT"] == "master-down" for h in cluster.hooks("slave") if h["hook"] == "notify"),
               10, "master-down notified")
    events = cluster.lab.fmirror("slave", "status", "--events", check=True).stdout.decode()
    assert "master-down" in events and "promoted" in events


def test_master_service_down_the_slave_makes_it_step_down_never_two_holders(cluster):
    sampler = IpSampler(cluster)
    try:
        cluster.stop_web("master")
        cluster.wait_holder("slave", TAKEOVER)
        time.sleep(0.5)
    finally:
        samples = sampler.close()
    assert all(len(s) <= 1 for s in samples), "both hosts held the floating IP at once"
    assert ("slave",) in samples
    assert _role(cluster, "slave") == ("master", 2)
    # The old master pushed what it had and follows the new one.
    assert cluster.status("master")["role"] in ("slave", "suspended")


def test_partition_between_master_and_slave_only_promotes_nobody(cluster):
    cluster.lab.block("master", "slave")
    log = cluster.lab.log_path("slave", "daemon")
    wait_until(lambda: b"master-down" in log.read_bytes(), 20, "slave sees the master down")
    # The master still answers ARP for the floating IP and cannot be asked to step down.
    wait_until(lambda: b"not promoting" in log.read_bytes(), 30, "promotion refused")
    time.sleep(2)   # more rounds: still no promotion
    assert cluster.holders() == ["master"]
    assert _role(cluster, "slave") == ("slave", 1)


def test_slave_cut_off_from_master_and_witness_stays_slave_and_says_it_is_isolated(cluster):
    cluster.lab.block("slave", "master")
    cluster.lab.block("slave", "witness")
    log = cluster.lab.log_path("slave", "daemon")
    wait_until(lambda: b"I am the isolated one" in log.read_bytes(), 20, "isolation reported")
    time.sleep(2)
    assert _role(cluster, "slave") == ("slave", 1)
    assert cluster.holders() == ["master"]
    assert any(h["FMIRROR_EVENT"] == "isolated" for h in cluster.hooks("slave"))


def test_isolated_master_drops_the_ip_and_is_suspended_after_the_link_heals(cluster):
    cluster.lab.block("master", "slave")
    cluster.lab.block("master", "witness")
    # The slave's request to step down fails within ssh's ConnectTimeout
    # (5 s), not after the shared connection's keepalives (15 s or more), and
    # the IP the master dropped meanwhile is seen to be quiet: one try, no
    # refusal and a second try a round later.
    cluster.wait_holder("slave", ISOLATED_TAKEOVER)
    assert b"but refused" not in cluster.lab.log_path("slave", "daemon").read_bytes()
    assert b"dropped the floating IP" in cluster.lab.log_path("master", "daemon").read_bytes()
    assert _role(cluster, "slave") == ("master", 2)
    cluster.lab.unblock("master", "slave")
    cluster.lab.unblock("master", "witness")
    wait_until(lambda: cluster.status("master")["role"] == "suspended", TAKEOVER, "old master suspended")
    assert cluster.holders() == ["slave"]
    # Whatever the old master writes now goes nowhere: pushes from it are refused.
    (cluster.lab["master"].path("/srv/www") / "late").write_text("written on a suspended node")
    time.sleep(2)
    assert not (cluster.lab["slave"].path("/srv/www") / "late").exists()
    st = cluster.status("master")
    assert "fmirror restore" in st["suspended"]["next"]


def test_one_failed_round_is_no_failover_but_fall_rounds_are(cluster):
    cluster.stop_web("master")
    time.sleep(0.4)          # at most two rounds without the page: fall is 3
    cluster.start_web("master")
    time.sleep(3)
    assert cluster.holders() == ["master"] and _role(cluster, "slave") == ("slave", 1)
    cluster.stop_web("master")
    cluster.wait_holder("slave", TAKEOVER)


def test_manual_mode_waits_for_the_operator(cluster_factory):
    cluster = cluster_factory(monitor={"failover": "manual"}).start()
    refused = cluster.lab.fmirror("slave", "failover")
    assert refused.returncode == 3 and b"the master answers" in refused.stderr
    cluster.lab.link_down("master")
    log = cluster.lab.log_path("slave", "daemon")
    wait_until(lambda: b"failover is manual" in log.read_bytes(), 20, "slave waits for the operator")
    time.sleep(2)
    assert cluster.holders() == [] and _role(cluster, "slave") == ("slave", 1)
    forced = cluster.lab.fmirror("slave", "failover", "--force", timeout=120)
    assert forced.returncode == 0, forced.stderr
    cluster.wait_holder("slave", 5)
    assert _role(cluster, "slave") == ("master", 2)


def test_switchover_with_writes_running_loses_nothing(cluster):
    m = cluster.lab["master"].path("/srv/www")
    stop, written = threading.Event(), []

    def writer():
        i = 0
        while not stop.is_set():
            name = f"w{i:05d}"
            (m / name).write_text(name)
            written.append(name)
            i += 1
            time.sleep(0.01)
    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(1)
        before = list(written)
        result = cluster.lab.fmirror("slave", "switchover", timeout=200)
    finally:
        stop.set()
        t.join()
    assert result.returncode == 0, result.stderr
    cluster.wait_holder("slave", 10)
    assert _role(cluster, "slave") == ("master", 2)
    # The old master took the new epoch at once: it can never promote to 2 itself.
    assert _role(cluster, "master") == ("slave", 2)
    s = cluster.lab["slave"].path("/srv/www")
    missing = [n for n in before if not (s / n).exists()]
    assert not missing, f"{len(missing)} files written before the switchover are missing"
    # The new master now pushes to the old one: both trees end up identical. The writer went on
    # until the command returned: what it wrote on the old master after that became a slave is
    # drift on a slave, which the next full reconciliation removes (a reload asks for one here).
    (s / "after-switchover").write_text("from the new master")
    cluster.lab.daemon("slave").send_signal(signal.SIGHUP)
    trees.wait_equal(s, m, 60)


def test_restarted_old_master_does_not_claim_the_ip(cluster):
    cluster.lab.link_down("master")
    cluster.wait_holder("slave", TAKEOVER)
    cluster.lab.kill_daemon("master")
    cluster.lab.link_up("master")
    sampler = IpSampler(cluster)
    try:
        cluster.lab.start_daemon("master")
        wait_until(lambda: cluster.status("master")["role"] == "suspended", TAKEOVER, "old master suspended")
        time.sleep(1)
    finally:
        samples = sampler.close()
    assert all("master" not in s for s in samples)
    assert cluster.holders() == ["slave"]


def test_master_holding_the_ip_that_cannot_be_asked_is_fenced_first(cluster_factory):
    cluster = cluster_factory()
    cluster.cfg["hooks"]["fence"] = hook("fence")
    cluster.start()
    # The master keeps the IP but its service and its sshd are gone: no way to ask it to step down.
    cluster.lab.stop_sshd("master")
    cluster.stop_web("master")
    fenced = wait_until(lambda: [h for h in cluster.hooks("slave") if h["hook"] == "fence"], TAKEOVER, "fence hook")
    assert fenced[0]["FMIRROR_DETAIL"] == "master"
    cluster.lab.link_down("master")       # what the fence hook's power switch would do
    cluster.wait_holder("slave", TAKEOVER)
    assert _role(cluster, "slave") == ("master", 2)
    assert any(h.get("FMIRROR_EVENT") == "fenced" for h in cluster.hooks("slave") if h["hook"] == "notify")


def test_a_push_in_flight_when_the_master_dies_does_not_block_the_takeover(cluster):
    cluster.lab.slow("master", "4mbit")
    (cluster.lab["master"].path("/srv/www") / "big").write_bytes(os.urandom(30 * 1024 * 1024))
    slave = cluster.lab["slave"].path("/srv/www")
    wait_until(lambda: any(p.name.startswith(".big.") for p in slave.iterdir()), 30, "big.bin half-way on the slave")
    cluster.lab.link_down("master")
    # Its connection is gone but the receiving rsync would wait for it: promotion stops it.
    cluster.wait_holder("slave", 20)
    assert _role(cluster, "slave") == ("master", 2)
    assert b"left by the old master" in cluster.lab.log_path("slave", "daemon").read_bytes()


def test_a_master_that_dies_during_the_deciding_round_is_not_asked_to_step_down(cluster_factory):
    """The deciding round's floating-IP probe found the master still holding it; by the
    round's end it was dead: the IP is probed again, not the dead master asked over ssh."""
    cluster = cluster_factory(monitor={"interval": 2.0, "timeout": 1.5, "fall": 2}).start()
    lab = cluster.lab
    # HTTP alone goes silent: rounds fail at their timeout (1.5 s), while ICMP and ARP answer.
    lab["master"].run(["nft", "-f", "-"], input=netns.nft_table("inet", "no_http", [
        "chain input {", "\ttype filter hook input priority 0; policy accept;", "\ttcp dport 80 drop", "}"]).encode())
    wait_until(lambda: cluster.status("slave")["monitor"]["failures"] == 1, 30, "the slave's first failed round")
    # The deciding round begins at most 0.5 s later (rounds 2 s apart); its probe of the floating IP
    # has its answer within 0.3 s. The cut comes ~1 s into the round, 0.5 s before its HTTP times out.
    time.sleep(1.5)
    lab.link_down("master")
    cluster.wait_holder("slave", TAKEOVER)
    log = lab.log_path("slave", "daemon").read_text()
    assert "step down" not in log
    assert _role(cluster, "slave") == ("master", 2)


NOTIFY_LOG = "/run/notify-ip.log"
# A notify hook that notes, as it starts, its event and whether this host holds the floating IP.
NOTIFY_IP = ["sh", "-c", f'echo "$FMIRROR_EVENT $(ip -o addr show dev eth0 | grep -c {FLOATING}/)" >> {NOTIFY_LOG}']


def test_the_notify_hooks_of_a_promotion_start_once_the_floating_ip_is_taken(make_lab):
    """A hook's process started at master-down took the cores the promotion needed: the IP came later."""
    lab = make_lab()
    cfg = config(lab, monitor={"interval": 0.2, "timeout": 0.15, "fall": 2})
    cfg["hooks"]["notify"] = NOTIFY_IP
    cluster = Cluster(lab, cfg).start(master_first=True)
    lab.link_down("master")
    cluster.wait_holder("slave", TAKEOVER)
    notes = lab["slave"].path(NOTIFY_LOG)

    def noted():
        seen = dict(line.split() for line in notes.read_text().splitlines()) if notes.exists() else {}
        return seen if {"master-down", "promoted"} <= seen.keys() else None
    seen = wait_until(noted, 10, "the master-down and promoted notifications")
    assert seen["master-down"] == "1", "the master-down hook started before the floating IP was taken"
    assert seen["promoted"] == "1"
