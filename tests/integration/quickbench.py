"""What both benchmark guards share: run a harness in its quick mode, read the tables it wrote.

They assert that numbers were produced, never how fast they are: the machine
is shared and the quick sizes mean nothing. The harnesses need root (the
lab); outside CI a guard skips without it, in CI it must run.
"""

import os
import re
import sys
from pathlib import Path

import pytest

from fmirror import process

REPO = Path(__file__).resolve().parents[2]
# A measured value as the reports print it: "0.306 s", "1,000", "20.8 MB", "0 %", "3".
NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[+-]?\d+)? ?(s|B|MB|%)?$")


def run_quick(module: str, out: Path, timeout: float) -> str:
    """`python -m module --quick --out out`, which must succeed; the report it wrote."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"the {module} guard must run in CI, and the lab needs root")
        pytest.skip("the benchmark lab needs root")
    result = process.run([sys.executable, "-m", module, "--quick", "--out", out],
                         cwd=REPO, timeout=timeout, check=False)
    assert result.returncode == 0, process.stderr_tail(result.stderr, 20)
    return out.read_text()


def table_rows(lines: list) -> list:
    """The first table among lines, each row as {header: cell}."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in lines if line.startswith("|")]
    if not rows:
        return []
    header, body = rows[0], rows[2:]   # rows[1] is the |---| line
    return [dict(zip(header, row)) for row in body]


def tables(markdown: str) -> list:
    """Every table of a report, each as table_rows() gives it."""
    out, block = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            out.append(table_rows(block))
            block = []
    return out
