"""Latency writer, run inside the master host: creates and rewrites small files at a steady rate.

Run as a script (python bench/writer.py DIR RATE SECONDS OUT): it needs only the
standard library. Every file starts with a header "name version size", and
its size grows with its version, so the slave side can tell which version
arrived and that it is complete. Writes {"writes": [[name, version, closed_at]],
"late": n} to OUT; closed_at is time.monotonic() right after close(), on the
clock every lab host shares.
"""

import argparse
import json
import os
import random
import time

BASE_SIZE = 2048
REWRITE_EVERY = 4      # every 4th operation rewrites an earlier file in place; the others create
LATE = 0.01            # an operation this far behind its schedule counts as late: the writer lagged


def size_of(version: int) -> int:
    return BASE_SIZE + version


def content(name: str, version: int) -> bytes:
    header = f"{name} {version} {size_of(version)}\n".encode()
    return header + b"." * (size_of(version) - len(header))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("out")
    args = parser.parse_args()
    rng = random.Random(0)
    names, versions, writes, late = [], {}, [], 0
    began = time.monotonic()
    for i in range(int(args.rate * args.seconds)):
        # An absolute schedule: a slow write delays the next one, never the whole rate.
        lag = time.monotonic() - (began + i / args.rate)
        if lag < 0:
            time.sleep(-lag)
        elif lag > LATE:
            late += 1
        if names and i % REWRITE_EVERY == REWRITE_EVERY - 1:
            name = rng.choice(names)
        else:
            name = f"f{i:06d}"
            names.append(name)
        versions[name] = versions.get(name, 0) + 1
        with open(os.path.join(args.dir, name), "wb") as f:
            f.write(content(name, versions[name]))
        writes.append([name, versions[name], time.monotonic()])
    with open(args.out, "w") as f:
        json.dump({"writes": writes, "late": late}, f)


if __name__ == "__main__":
    main()
