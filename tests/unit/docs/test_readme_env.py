"""The README documents every setting the services read, and its commands exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
SETTINGS = [
    "services.common.settings:CommonSettings",
    "services.ingest.settings:IngestSettings",
    "services.detector.settings:DetectorSettings",
    "services.classifier.settings:ClassifierSettings",
    "services.tracker.settings:TrackerSettings",
    "services.events.settings:EventsSettings",
    "services.ui.settings:UISettings",
    "services.cli.settings:CliSettings",
]


@pytest.mark.parametrize("path", SETTINGS)
def test_every_setting_is_in_the_readme(path: str) -> None:
    module, name = path.split(":")
    fields = getattr(importlib.import_module(module), name).model_fields
    missing = [f"EMOSTREAM_{f.upper()}" for f in fields if f"`EMOSTREAM_{f.upper()}`" not in README]
    assert not missing, f"README lacks {missing}"


def test_readme_names_no_setting_that_does_not_exist() -> None:
    known = set()
    for path in SETTINGS:
        module, name = path.split(":")
        known |= {
            f"EMOSTREAM_{f.upper()}" for f in getattr(importlib.import_module(module), name).model_fields
        }
    named = set(re.findall(r"`(EMOSTREAM_[A-Z_]+)`", README))
    assert named <= known, f"README names unknown settings {named - known}"


@pytest.mark.parametrize("target", ["demo", "test"])
def test_readme_make_targets_exist(target: str) -> None:
    assert f"make {target}" in README
    assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), re.M)
