"""Partition benchmark: the fleet across network namespaces, each fault's recovery times.

Usage: python -m benchmarks.partitions [--json] [-k EXPR]   (as root: it makes network namespaces)

Runs ``tests/e2e/test_partitions.py`` (Redis, ingest+classifier, two detectors, two trackers, two events
replicas and the UI, each on a namespace of its own; each fault cuts one host off for 30 s) and prints
what each fault measured: when the survivors took the work over (``taken_over_s``: seconds after the
cut), when the job finished or the new owner published, when the cut-off host beat again after the heal
(``rejoin_s``), and the frames lost and duplicated (0, or the test fails). ``-k`` picks faults as pytest
does. A failed fault makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partitions", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("-k", default="", help="only the faults whose test matches (pytest -k)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "partitions.jsonl")
        env = {**os.environ, "EMOSTREAM_PARTITIONS_JSON": str(out), "EMOSTREAM_REQUIRE_NETNS": "1"}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/test_partitions.py"]
        done = subprocess.run(
            [*cmd, *(["-k", args.k] if args.k else [])], cwd=ROOT, env=env, capture_output=True, text=True
        )
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], file=sys.stderr)
    if args.json:
        print(json.dumps({"faults": rows, "passed": done.returncode == 0}, indent=2))
    else:
        for row in rows:
            fault = row.pop("fault")
            print(f"{fault:14} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
