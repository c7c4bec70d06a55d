"""What a fault test measured, for ``benchmarks/partitions.py``: printed, and with
``EMOSTREAM_PARTITIONS_JSON`` set, appended to that file as one JSON line per fault."""

from __future__ import annotations

import json
import os


def report(fault: str, text: str, **numbers: float) -> None:
    """Print ``text`` under ``fault``'s name; append ``numbers`` (rounded) where the benchmark asks."""
    print(f"{fault}: {text}")
    if path := os.environ.get("EMOSTREAM_PARTITIONS_JSON"):
        with open(path, "a") as fh:
            fh.write(json.dumps({"fault": fault, **{k: round(v, 2) for k, v in numbers.items()}}) + "\n")
