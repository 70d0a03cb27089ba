"""`python -m bench.wake [--wakes N] [--gap S]`: what one wake-up of an idle Python thread costs here.

The thread sleeps `gap` seconds, wakes, does a few microseconds' work (a
small JSON round trip, as a state query's answer is), and sleeps again;
its own CPU clock is read around the work. The same work done again at
once is the warm figure. Prints one JSON line: {"cold_ms": median,
"warm_ms": median, "wakes": N}.

Why it is in the benchmark: a daemon that must answer a peer every few
seconds pays this per answer, whatever it does in it; on a shared VM the
caches are cold after a sleep, and the idle CPU of fmirror's master is
mostly this cost times its wake-ups (see the scale section).
"""

import argparse
import json
import statistics
import time

SAMPLE = {"node": "master", "role": "master", "epoch": 3, "role_since": 1.5, "master": "master",
          "daemon": {"running": True, "unsent": 0, "oldest_unsent_age": None}}


def work():
    return json.loads(json.dumps(SAMPLE))


def cpu_ms(fn) -> float:
    began = time.thread_time_ns()
    fn()
    return (time.thread_time_ns() - began) / 1e6


def measure(wakes: int, gap: float) -> dict:
    cold, warm = [], []
    work()
    for _ in range(wakes):
        time.sleep(gap)   # the point is to be idle: nothing to wait for
        cold.append(cpu_ms(work))
        warm.append(cpu_ms(work))
    return {"cold_ms": statistics.median(cold), "warm_ms": statistics.median(warm), "wakes": wakes}


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.wake", description=__doc__.splitlines()[0])
    parser.add_argument("--wakes", type=int, default=6)
    parser.add_argument("--gap", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(measure(args.wakes, args.gap)))


if __name__ == "__main__":
    main()
