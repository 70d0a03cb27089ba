"""A lab hook: appends the hook's name and its FMIRROR_* environment to /run/hooks.log as JSON."""

import json
import os
import sys
import time

LOG = "/run/hooks.log"


def main(argv) -> int:
    entry = {"hook": argv[0] if argv else "?", "at": time.time(),
             **{k: v for k, v in os.environ.items() if k.startswith("FMIRROR_")}}
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
