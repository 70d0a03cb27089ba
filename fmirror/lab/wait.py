"""Polling with a deadline: the lab never waits with a bare sleep."""

import time

from fmirror.errors import Failed

POLL_INTERVAL = 0.02


def wait_until(predicate, timeout: float, what: str, interval: float = POLL_INTERVAL):
    """Call predicate until it returns something true and return that; Failed after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failed(f"lab: {what}: not within {timeout:g} s")
        time.sleep(interval)
