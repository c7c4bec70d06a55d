"""``emostream eval tracking`` / ``eval stability`` end to end: real MTCNN and classifier, generated clips
with exact ground truth (tests/support/clips.py), the tracker service's own handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import clips

pytestmark = pytest.mark.e2e


def run_cli(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "eval", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", sorted(clips.TRACKING_CLIPS))
def test_no_identity_switch_on_crossings_and_occlusions(
    name: str, sample_media: Path, tmp_path: Path
) -> None:
    video, gt = clips.build(clips.TRACKING_CLIPS[name](), sample_media, tmp_path)
    result = run_cli("tracking", "--video", str(video), "--gt", str(gt))
    assert result["id_switches"] == 0, result
    assert float(result["idf1"]) >= 0.95, result  # type: ignore[arg-type]
    assert result["track_ids"] == len(clips.TRACKING_CLIPS[name]().actors), "one id per face"


def test_shown_label_is_steadier_than_raw_yet_follows_it(sample_media: Path) -> None:
    # The tracker's hysteresis under test, fed the noisier mini-Xception: with the steadier default
    # (raw 18.3 changes/min against 30.5) the shown label changes only at the video's three real
    # expression changes (6.1/min either way), so the ratio says more about the classifier than the tracker.
    video = str(sample_media / "WolfgangLanger_Pexels.mp4")
    result = run_cli("stability", "--video", video, env={"EMOSTREAM_MODEL": "mini-xception"})
    total = result["total"]
    assert isinstance(total, dict)
    assert total["shown_changes_per_min"] * 3 <= total["raw_changes_per_min"], total
    assert total["shown_changes_per_min"] > 0, "it still changes when the expression does"
    assert total["agrees_with_majority"] >= 0.85, total
