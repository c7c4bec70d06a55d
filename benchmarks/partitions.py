"""Partition benchmark: the fleet across network namespaces, each fault's recovery times.

Usage: python -m benchmarks.partitions [--json] [-k EXPR]   (as root: it makes network namespaces)

Runs ``tests/e2e/test_partitions.py`` (Redis, ingest+classifier, two detectors, two trackers, two events
replicas and the UI, each on a namespace of its own; each fault cuts one host off for 30 s) and
``tests/e2e/test_cluster_failover.py`` (a Redis Cluster master SIGKILLed) and ``tests/e2e/test_slow_links.py``
(100 ms and 2% loss on every link for 120 s), and prints what each fault
measured: ``recovery_s``, seconds from the fault until the survivors took the work over (for the UI: from
the heal until the camera is fresh again), when the cut-off host beat again after the heal (``rejoin_s``),
and what was lost and duplicated (the partition tests fail on anything but 0; the failover counts what
asynchronous replication lost). ``-k`` picks faults as pytest does. A failed fault makes the exit status
non-zero: ``{"faults": {name: {"lost", "duplicates", "recovery_s", ...}}, "passed": bool}``.
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
TESTS = ("tests/e2e/test_partitions.py", "tests/e2e/test_cluster_failover.py", "tests/e2e/test_slow_links.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partitions", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("-k", default="", help="only the faults whose test matches (pytest -k)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "partitions.jsonl")
        env = {**os.environ, "EMOSTREAM_PARTITIONS_JSON": str(out), "EMOSTREAM_REQUIRE_NETNS": "1"}
        env.setdefault("EMOSTREAM_SLOW_LINK_S", "120")  # the two minutes of slow links
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
        done = subprocess.run(
            [*cmd, *(["-k", args.k] if args.k else [])], cwd=ROOT, env=env, capture_output=True, text=True
        )
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    faults = {row.pop("fault"): row for row in rows}
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], file=sys.stderr)
    if args.json:
        print(json.dumps({"faults": faults, "passed": done.returncode == 0}, indent=2))
    else:
        for fault, row in faults.items():
            print(f"{fault:14} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
