"""The bench's idle meter counts everything a lab host ran, a process that exited included, and leaves no cgroup."""

import time

from bench.hostcpu import PREFIX, HostCPU

BURN = 0.3   # CPU seconds the short-lived process spends


def test_a_host_counts_a_child_that_worked_and_exited_inside_the_window(make_lab):
    lab = make_lab(hosts=("master", "slave"))
    # Already running when the meter starts, as a daemon or sshd is: what it starts later
    # (a session, a probe) lives and dies inside the window.
    burner = (f"import time; end = time.process_time() + {BURN}\n"
              "while time.process_time() < end: pass")
    parent = lab["master"].spawn(["sh", "-c", f"sleep 0.5; python3 -c '{burner}'; sleep 30"],
                                 lab.log_path("master", "burner"))
    quiet = lab["slave"].spawn(["sleep", "30"], lab.log_path("slave", "sleeper"))
    with HostCPU(lab, ("master", "slave")) as meter:
        before = meter.seconds()
        time.sleep(0.5 + 3 * BURN + 0.5)   # the child starts, burns and exits meanwhile
        after = meter.seconds()
        root = meter.root
    assert after["master"] - before["master"] >= 0.8 * BURN
    assert after["slave"] - before["slave"] < 0.1 * BURN
    assert not [p for p in root.iterdir() if p.name.startswith(PREFIX)]
    assert parent.poll() is None and quiet.poll() is None   # moved back out, still running


def test_a_host_that_keeps_starting_processes_still_leaves_no_cgroup(make_lab):
    # sshd taking a session, a daemon starting rsync: a child born in the group while the others
    # move out held it, and the group could not go (EBUSY, seen once in a hand run).
    lab = make_lab(hosts=("master",))
    forker = lab["master"].spawn(["sh", "-c", "while :; do /bin/true; done"], lab.log_path("master", "forker"))
    root = None
    for _ in range(20):
        with HostCPU(lab, ("master",)) as meter:
            root = meter.root
            time.sleep(0.02)
    assert not [p for p in root.iterdir() if p.name.startswith(PREFIX)]
    assert forker.poll() is None
