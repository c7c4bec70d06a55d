"""The REST API keeps its OpenAPI contract: schemathesis, with its default checks and every phase
(examples, coverage, fuzzing, stateful), against the running dashboard on a real Redis; the two rules a
schema cannot express are in schemathesis.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from services.ui.settings import UISettings
from tests.support.ui import serve_ui
from tests.support.wait import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_nothing(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    settings = UISettings(redis_url=redis_url, port=free_port(), data_dir=tmp_path / "ui")
    with serve_ui(settings, redis_client) as url:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"{url}/openapi.json",
                "--max-examples",
                "30",
                "--seed",
                "1",
                "--request-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "Stateful" in report and " passed" in report, report
