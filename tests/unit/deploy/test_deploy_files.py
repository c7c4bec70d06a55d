"""The compose file and Dockerfile cannot run here (no Docker engine): check they agree with the code."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from services.cli import SERVICES

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETTINGS = {
    "ingest": "services.ingest.settings:IngestSettings",
    "detector": "services.detector.settings:DetectorSettings",
    "classifier": "services.classifier.settings:ClassifierSettings",
    "tracker": "services.tracker.settings:TrackerSettings",
    "events": "services.events.settings:EventsSettings",
    "ui": "services.ui.settings:UISettings",
}


def settings_fields(service: str) -> set[str]:
    module, cls = SETTINGS[service].split(":")
    return set(getattr(importlib.import_module(module), cls).model_fields)


def env_names(service: str) -> set[str]:
    return {f"EMOSTREAM_{name.upper()}" for name in settings_fields(service)}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_mirrors_python_module(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert spec["command"] == ["python", "-m", f"services.{service}"]
    assert spec["healthcheck"]["test"] == ["CMD", "python", "-m", f"services.{service}", "--check"]
    assert spec["build"]["args"]["SERVICE"] == service
    assert service in PYPROJECT["project"]["optional-dependencies"], "the Dockerfile installs .[SERVICE]"
    assert spec["environment"]["EMOSTREAM_REDIS_URL"].startswith("redis://redis:")
    assert set(spec["environment"]) <= env_names(service), "an env var no settings class reads"


@pytest.mark.parametrize(
    ("service", "gpu"),
    [("detector", True), ("classifier", True), ("tracker", False), ("ingest", False), ("ui", False)],
)
def test_gpu_reservations(service: str, gpu: bool) -> None:
    devices = COMPOSE["services"][service].get("deploy", {}).get("resources", {}).get("reservations", {})
    assert bool(devices.get("devices")) is gpu


def test_env_example_names_real_settings() -> None:
    known = set().union(*(env_names(s) for s in SERVICES))
    names = re.findall(r"^(EMOSTREAM_[A-Z_]+)=", (ROOT / "deploy" / ".env.example").read_text(), re.M)
    assert names, "empty .env.example"
    assert set(names) <= known


def test_dockerfile_runs_the_service_module_with_health_check() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "ARG SERVICE" in text
    assert 'pip install --no-cache-dir ".[${SERVICE}]"' in text
    assert "CMD python -m services.${SERVICE} --check" in text
    assert re.search(r"^CMD python -m services\.\$\{SERVICE\}$", text, re.M)


def test_redis_has_health_check_and_services_wait_for_it() -> None:
    assert "healthcheck" in COMPOSE["services"]["redis"]
    for service in SERVICES:
        assert COMPOSE["services"][service]["depends_on"]["redis"]["condition"] == "service_healthy"
