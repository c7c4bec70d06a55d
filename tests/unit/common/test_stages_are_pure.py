"""Every service's stage.py is its pure logic: it imports with neither torch nor redis installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

SERVICES = ["ingest", "detector", "classifier", "tracker", "events", "ui"]


@pytest.mark.parametrize("service", SERVICES)
def test_stage_imports_without_torch_or_redis(service: str) -> None:
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"  # None in sys.modules: any import of it fails
        "sys.modules['redis'] = None\n"
        f"import services.{service}.stage\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
