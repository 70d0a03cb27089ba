"""`python -m bench.run [--quick] [--only SCENARIO...] [--out docs/benchmarks.md]`

Builds a lab (hosts master and slave), runs each scenario for fmirror and its
peers one after another on fresh trees, writes the report. Needs root, like
the lab. --quick shrinks every size and duration so the harness itself stays
tested (tests/integration/test_bench_guard.py); its numbers mean nothing.
"""

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from fmirror.lab import Lab, unavailable_reason

from bench import disk, interrupt, report, tools
from bench.scenarios import Bench, burst, latency, rename, restore, scale

# Failover has its own harness (bench/failover.py: a lab with witness and client
# hosts, trials beside keepalived); restore needs only master and slave.
SCENARIOS = {"latency": latency, "burst": burst, "rename": rename, "scale": scale, "restore": restore}
LAB_HOSTS = (tools.MASTER, tools.SLAVE)
DEFAULT_OUT = Path("docs/benchmarks.md")

log = logging.getLogger("bench")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[2])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs (CI)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="SCENARIO",
                        help=f"run only these ({', '.join(SCENARIOS)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report path (default {DEFAULT_OUT})")
    parser.add_argument("--scale-files", type=int,
                        help=f"files in the scale tree (default {scale.FILES:,}; quick {scale.QUICK_FILES:,})")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the report from the bench-results.json beside --out, running nothing "
                             "(after editing bench/findings.md)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="RESULTS",
                        help="write the report from several runs' bench-results.json files, running nothing: "
                             "each scenario from the last file that has it, each run named in the report")
    return parser.parse_args(argv)


def plan(quick: bool, only=None) -> dict:
    """{scenario: [tool names its table will have]}: what a run produces."""
    return {name: module.tool_names(quick) for name, module in SCENARIOS.items()
            if not only or name in only}


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.render_only or args.merge:
        try:
            runs = [json.loads(path.read_text()) for path in args.merge or [args.out.with_name(report.RESULTS)]]
        except (OSError, ValueError) as e:
            print(f"bench: cannot read the results: {e}", file=sys.stderr)
            return 2
        meta, results = report.merged(runs) if args.merge else (runs[0]["meta"], runs[0]["scenarios"])
        report.write(args.out, meta, {n: results[n] for n in SCENARIOS if n in results}, SCENARIOS)
        return 0
    reason = (unavailable_reason() or (None if shutil.which("lsyncd") else "lsyncd is not installed")
              or report.unfit_reason())
    if reason:
        print(f"bench: cannot run: {reason}", file=sys.stderr)
        return 2
    scale_files = args.scale_files or (scale.QUICK_FILES if args.quick else scale.FILES)
    meta = {"command": shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)]),
            "quick": args.quick, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "machine": report.machine(), "fmirror": report.fmirror_version(), "load_before": os.getloadavg()}
    began = time.monotonic()
    results = {}
    for name, result in run(plan(args.quick, args.only), args.quick, scale_files, meta):
        results[name] = result
        meta.update(seconds=time.monotonic() - began, load_after=os.getloadavg())
        # After every scenario: a run that breaks later still leaves what it measured.
        report.write(args.out, meta, results, SCENARIOS)
    log.info("bench: report in %s (%.0f s)", args.out, meta["seconds"])
    return 0


def run(selected: dict, quick: bool, scale_files: int, meta: dict):
    """Yields (scenario, result) as each one ends, all on one lab; meta learns the lab's filesystem."""
    with (tempfile.TemporaryDirectory(prefix="fmirror-bench-") as tmp, disk.scratch(Path(tmp)) as (where, fs),
          Lab(where, LAB_HOSTS) as lab):
        meta["lab_filesystem"] = fs
        tools.install(lab)
        bench = Bench(lab, quick, scale_files)
        for name in selected:
            began = time.monotonic()
            log.info("bench: %s ...", name)
            result = SCENARIOS[name].run(bench)
            log.info("bench: %s done in %.0f s", name, time.monotonic() - began)
            yield name, result


if __name__ == "__main__":
    sys.exit(interrupt.run(main))
