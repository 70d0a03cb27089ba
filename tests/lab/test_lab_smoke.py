"""The lab itself: hosts, network, private folders, sshd, faults, teardown."""

import os
import sys
import time
from pathlib import Path

from fmirror.lab import netns, sshd
from fmirror.lab.wait import wait_until

TCP_PROBE = ("import socket, sys; "
             "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()")


def pings(lab, source, target) -> bool:
    return lab[source].run(["ping", "-c1", "-W1", lab[target].address], check=False).returncode == 0


def tcp_connects(lab, source, target, port=22) -> bool:
    argv = [sys.executable, "-c", TCP_PROBE, lab[target].address, str(port)]
    return lab[source].run(argv, check=False).returncode == 0


def gone(pid: int) -> bool:
    """No such process, or only a zombie nobody reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_each_host_has_its_hostname_its_address_and_no_route_out(lab):
    for name, host in lab.hosts.items():
        assert host.run(["hostname"]).text.strip() == name
        assert f"inet {host.address}/24 " in host.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).text
        assert host.run(["ip", "route", "show", "default"]).text.strip() == ""
    assert lab["master"].address == "198.51.100.1"
    assert lab["slave"].address == "198.51.100.2"
    assert lab["witness"].address == "198.51.100.254"
    assert lab["client"].address == "198.51.100.10"


def test_master_pings_slave(lab):
    result = lab["master"].run(["ping", "-c1", "-W2", "198.51.100.2"], check=False)
    assert result.returncode == 0, result.stderr


def test_link_down_cuts_the_host_off_until_link_up(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    lab.link_down("slave")
    assert not pings(lab, "master", "slave")
    lab.link_up("slave")
    wait_until(lambda: pings(lab, "master", "slave"), 10, "ping after link_up")


def test_block_stops_tcp_between_the_pair_only(make_lab):
    lab = make_lab(hosts=("master", "slave", "witness"))
    assert tcp_connects(lab, "master", "slave")
    lab.block("master", "slave")
    assert not tcp_connects(lab, "master", "slave")
    assert not tcp_connects(lab, "slave", "master")
    assert tcp_connects(lab, "master", "witness")
    assert tcp_connects(lab, "slave", "witness")
    lab.unblock("master", "slave")
    assert tcp_connects(lab, "master", "slave")


def test_full_loss_drops_everything_until_cleared(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    lab.loss(100)
    assert not pings(lab, "master", "slave")
    lab.clear_loss()
    # ARP was lost too: the master may still be between two ARP retries.
    wait_until(lambda: pings(lab, "master", "slave"), 10, "ping after clear_loss")


def test_slow_link_limits_throughput_until_cleared(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    lab.authorize("master", ["/usr/bin/wc", "-c"])
    payload = os.urandom(256 * 1024)  # random: ssh must not be able to compress it away

    def upload_seconds() -> float:
        began = time.monotonic()
        result = lab.ssh("master", "slave", input=payload, check=True)
        assert result.text.strip() == str(len(payload))
        return time.monotonic() - began

    lab.slow("slave", "1mbit")
    slowed = upload_seconds()
    assert slowed > 1.5  # 2 Mbit at 1 Mbit/s, less one tbf burst
    lab.clear_slow("slave")
    assert upload_seconds() < slowed / 2


def test_each_host_has_private_folders_and_the_same_config(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    master, slave = lab["master"], lab["slave"]
    master.path("/srv/www").mkdir()
    master.path("/srv/www/only-on-master").write_text("here\n")
    assert master.run(["cat", "/srv/www/only-on-master"]).text == "here\n"
    assert slave.run(["test", "-e", "/srv/www/only-on-master"], check=False).returncode == 1
    assert not Path("/srv/www/only-on-master").exists()
    slave.run(["mkdir", "/var/lib/fmirror/made-inside"])
    assert slave.path("/var/lib/fmirror/made-inside").is_dir()
    assert not master.path("/var/lib/fmirror/made-inside").exists()
    lab.write_config("nodes: {}\n")
    for host in (master, slave):
        assert host.run(["cat", "/etc/fmirror/fmirror.yaml"]).text == "nodes: {}\n"


def test_ssh_runs_only_the_forced_command_and_only_for_authorized_keys(lab):
    lab.authorize("master", ["/bin/echo", "forced"])
    for peer in ("slave", "witness", "client"):
        result = lab.ssh("master", peer, "hostname", check=True)
        assert result.text == "forced\n"
    refused = lab.ssh("slave", "master", "hostname")
    assert refused.returncode == 255
    assert b"Permission denied" in refused.stderr
    key = lab["master"].path("/etc/fmirror/id_ed25519")
    assert key.stat().st_mode & 0o777 == 0o600


def test_sshd_stop_cuts_sessions_and_refuses_connections_until_started_again(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    lab.authorize("master", ["/bin/sleep", "300"])
    session = lab["master"].spawn(sshd.ssh_argv(lab["slave"].address), lab.log_path("master", "ssh"))
    wait_until(lambda: b"Accepted publickey" in lab.log_path("slave", "sshd").read_bytes(), 10,
               "the session to the slave")
    lab.stop_sshd("slave")
    wait_until(lambda: session.poll() is not None, 10, "the session cut")
    lab.authorize("master", ["/bin/echo", "forced"])
    refused = lab.ssh("master", "slave", "hostname")
    assert refused.returncode == 255
    assert b"Connection refused" in refused.stderr
    lab.start_sshd("slave")
    assert lab.ssh("master", "slave", "hostname", check=True).text == "forced\n"


def test_teardown_kills_everything_and_deletes_the_namespaces(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    lab["master"].spawn(["sleep", "300"], lab.log_path("master", "sleep"))
    # A process the lab did not start itself: found through its network namespace.
    lab["slave"].spawn(["setsid", "--fork", "sleep", "300"], lab.log_path("slave", "sleep"))
    orphans = wait_until(lambda: netns.pids(lab["slave"].netns) - lab.pids(), 5, "the orphan sleep")
    pids = lab.pids() | orphans
    namespaces = set(lab.namespaces)
    assert len(namespaces) == 3 and namespaces <= set(netns.names())

    lab.close()
    lab.close()

    assert not namespaces & set(netns.names())
    wait_until(lambda: all(gone(pid) for pid in pids), 5, "every lab process gone")
