"""A probe round: which probe runs in the monitor's own thread, and the deadline still holds for the rest."""

import threading
import time

from fmirror.probes import Prober, Task, in_caller, is_ip

TIMEOUT = 0.2


def test_only_an_ip_address_makes_a_bounded_probe():
    assert is_ip("198.51.100.1") and is_ip("2001:db8::1") and is_ip("::1")
    assert not is_ip("master.example") and not is_ip("fe80::1%eth0") and not is_ip("")


def test_the_first_bounded_task_runs_in_the_caller():
    free = Task(lambda: (True, ""))
    bounded = Task(lambda: (True, ""), bounded=True)
    assert in_caller({"http:80": free, "icmp": bounded, "witness": bounded}) == "icmp"
    assert in_caller({"http:80": free, "tcp:443": free}) is None
    assert in_caller({}) is None


def _where():
    return True, str(threading.get_ident())


def test_an_idle_round_of_one_icmp_probe_wakes_no_other_thread():
    prober = Prober()
    try:
        results = prober.round({"icmp": Task(_where, bounded=True)}, TIMEOUT)
        assert results["icmp"].ok and results["icmp"].detail == str(threading.get_ident())
        assert prober.round({"http:80": Task(_where)}, TIMEOUT)["http:80"].detail != str(threading.get_ident())
    finally:
        prober.close()


def test_the_rest_of_the_round_still_gives_up_at_the_deadline():
    prober = Prober()

    def hangs():
        time.sleep(5 * TIMEOUT)
        return True, ""

    def bounded():
        time.sleep(TIMEOUT / 2)      # the caller's own probe takes part of the round
        return True, ""
    try:
        began = time.monotonic()
        results = prober.round({"http:80": Task(hangs), "icmp": Task(bounded, bounded=True)}, TIMEOUT)
        took = time.monotonic() - began
        assert list(results) == ["http:80", "icmp"]            # the configured order
        assert results["icmp"].ok and not results["http:80"].ok
        assert results["http:80"].detail == f"no answer within {TIMEOUT:g} s"
        assert took < 2 * TIMEOUT                               # not the caller's probe and then a full timeout
    finally:
        prober.close()
