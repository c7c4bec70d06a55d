"""Where the dashboard keeps what browsers upload: a directory of this run's own, never the fixed,
shared ``/tmp/gradio`` that Gradio uses by default."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.ui.app import create_app
from services.ui.settings import UISettings

pytestmark = pytest.mark.integration


def test_dashboard_uploads_go_to_a_private_directory(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    settings = UISettings(redis_url=redis_url, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, redis_client)) as client:
        answer = client.post("/gradio_api/upload", files={"files": ("clip.mp4", b"\0" * 100, "video/mp4")})
    assert answer.status_code == 200, answer.text
    saved = Path(answer.json()[0])
    shared = Path(tempfile.gettempdir()) / "gradio"
    assert not saved.is_relative_to(shared), f"{saved} is in the shared {shared}"
    root = Path(os.environ["GRADIO_TEMP_DIR"])
    assert saved.is_relative_to(root) and root.name.startswith("emostream-gradio-")
    assert root.stat().st_mode & 0o077 == 0, "other users can list the uploads"
