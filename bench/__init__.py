"""The benchmark harness: fmirror beside its peers (one-shot rsync, lsyncd) on real lab hosts.

`python -m bench.run [--quick] [--only SCENARIO...] [--out docs/benchmarks.md]`
builds a lab (master and slave), runs every scenario for every tool one after
another on fresh trees, and writes a Markdown report with the raw numbers as
JSON beside it. See docs/benchmarks.md for what each scenario measures.
"""

from pathlib import Path

# The checkout the harness runs from: its modules start from here, its commit is the one measured.
REPO = Path(__file__).resolve().parent.parent
