"""The compose file and Dockerfile cannot run here (no Docker engine): check they agree with the code."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml

from services.cli import SERVICES
from tests.unit.deploy.contract import (
    ACL_COMMAND,
    ACL_FILE,
    DATA_DIR,
    DEPLOY,
    JOB_SERVICES,
    REDIS_USERS,
    ROOT,
    SECRET_KEYS,
    env_file,
    env_names,
    own_secrets,
    redis_password_var,
)

COMPOSE_TEXT = (DEPLOY / "compose.yaml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SECRETS_EXAMPLE = DEPLOY / "secrets.env.example"


def required_var(value: Any) -> str:
    """The variable of a required interpolation, ``${NAME:?why}``: compose refuses to start without it."""
    found = re.fullmatch(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}", str(value))
    assert found, f"{value!r} is not a required ${{NAME:?...}} interpolation"
    return found.group(1)


def mounts(spec: dict[str, Any]) -> dict[str, str]:
    """Short-syntax volumes as {container path: source}."""
    return {v.split(":")[1]: v.split(":")[0] for v in spec.get("volumes", [])}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_mirrors_python_module(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert spec["command"] == ["python", "-m", f"services.{service}"]
    assert spec["healthcheck"]["test"] == ["CMD", "python", "-m", f"services.{service}", "--check"]
    assert spec["build"]["args"]["SERVICE"] == service
    assert spec["image"] == f"emostream-{service}:latest", "the same image names as deploy/k8s"
    assert service in PYPROJECT["project"]["optional-dependencies"], "lock/SERVICE.txt is .[SERVICE]"
    assert (ROOT / "lock" / f"{service}.txt").is_file(), "the Dockerfile installs lock/SERVICE.txt"
    assert spec["environment"]["EMOSTREAM_REDIS_URL"].startswith("redis://redis:")
    assert set(spec["environment"]) <= env_names(service), "an env var no settings class reads"


@pytest.mark.parametrize(
    ("service", "gpu"),
    [
        ("detector", True),
        ("classifier", True),
        ("tracker", False),
        ("ingest", False),
        ("events", False),
        ("ui", False),
    ],
)
def test_gpu_reservations(service: str, gpu: bool) -> None:
    devices = COMPOSE["services"][service].get("deploy", {}).get("resources", {}).get("reservations", {})
    assert bool(devices.get("devices")) is gpu


def test_env_example_names_real_settings() -> None:
    known = set().union(*(env_names(s) for s in SERVICES))
    names = re.findall(r"^(EMOSTREAM_[A-Z_]+)=", (DEPLOY / ".env.example").read_text(), re.M)
    assert names, "empty .env.example"
    assert set(names) <= known


def test_dockerfile_runs_the_service_module_with_health_check() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "ARG SERVICE" in text
    assert 'uv pip install --system --no-cache --require-hashes -r "lock/${SERVICE}.txt"' in text
    assert "uv pip install --system --no-cache --no-deps --no-build-isolation ." in text
    assert "CMD python -m services.${SERVICE} --check" in text
    assert re.search(r"^CMD python -m services\.\$\{SERVICE\}$", text, re.M)


def test_dockerfile_runs_as_the_unprivileged_user_the_manifests_name() -> None:
    """compose runs Redis as this uid (it reads users.acl); Kubernetes sets runAsUser to it."""
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert COMPOSE["services"]["redis"]["user"] == "10001:10001"


def test_redis_has_health_check_and_services_wait_for_it() -> None:
    assert "healthcheck" in COMPOSE["services"]["redis"]
    for service in SERVICES:
        assert COMPOSE["services"][service]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_acl_service_writes_the_users_file_once_before_redis() -> None:
    acl = COMPOSE["services"]["acl"]
    assert acl["command"] == ACL_COMMAND
    assert acl["image"] == COMPOSE["services"]["ui"]["image"], "the ui image carries services.cli"
    assert acl["build"] == COMPOSE["services"]["ui"]["build"]
    assert acl["restart"] == "no"
    assert mounts(acl)["/acl"] == "acl"
    env = acl["environment"]
    assert set(env) == {redis_password_var(u) for u in REDIS_USERS}
    assert all(required_var(value) == name for name, value in env.items())

    redis = COMPOSE["services"]["redis"]
    assert redis["depends_on"]["acl"]["condition"] == "service_completed_successfully"
    assert mounts(redis)["/acl"] == "acl"
    command = redis["command"]
    assert command[command.index("--aclfile") + 1] == ACL_FILE
    assert {"acl", "jobs"} <= set(COMPOSE["volumes"])


def test_redis_health_check_authenticates_as_admin() -> None:
    redis = COMPOSE["services"]["redis"]
    test = redis["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "redis-cli --no-auth-warning --user admin" in test[1]
    assert '--pass "$$EMOSTREAM_REDIS_PASSWORD_ADMIN" ping' in test[1], "$$: expanded in the container"
    assert (
        required_var(redis["environment"]["EMOSTREAM_REDIS_PASSWORD_ADMIN"])
        == "EMOSTREAM_REDIS_PASSWORD_ADMIN"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_its_own_redis_user(service: str) -> None:
    env = COMPOSE["services"][service]["environment"]
    assert env["EMOSTREAM_REDIS_USERNAME"] == service
    assert required_var(env["EMOSTREAM_REDIS_PASSWORD"]) == redis_password_var(service)


def test_ui_login_is_on_by_default() -> None:
    env = COMPOSE["services"]["ui"]["environment"]
    assert env["EMOSTREAM_HOST"] == "0.0.0.0"
    assert required_var(env["EMOSTREAM_UI_PASSWORD"]) == "EMOSTREAM_UI_PASSWORD"
    assert required_var(env["EMOSTREAM_API_TOKEN"]) == "EMOSTREAM_API_TOKEN"


@pytest.mark.parametrize("service", SERVICES)
def test_job_volume_in_ui_and_ingest_only(service: str) -> None:
    spec = COMPOSE["services"][service]
    if service in JOB_SERVICES:
        assert mounts(spec)[DATA_DIR] == "jobs"
        assert spec["environment"]["EMOSTREAM_DATA_DIR"] == DATA_DIR
    else:
        assert "jobs" not in mounts(spec).values()


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_container_is_locked_down(name: str) -> None:
    spec = COMPOSE["services"][name]
    assert spec["read_only"] is True
    assert spec["tmpfs"] == ["/tmp"]
    assert spec["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in spec["security_opt"]
    assert "privileged" not in spec


def test_secrets_come_from_an_uncommitted_file_with_a_committed_example() -> None:
    example = env_file(SECRETS_EXAMPLE)
    assert set(example) == SECRET_KEYS
    assert all(value.startswith("change-me-") for value in example.values()), "placeholders only"
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", COMPOSE_TEXT))
    assert used <= set(example), "every variable compose interpolates is in secrets.env.example"
    assert "/secrets.env" in (DEPLOY / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_only_its_own_secrets(service: str) -> None:
    env = COMPOSE["services"][service]["environment"]
    used = {required_var(v) for v in env.values() if str(v).startswith("${")} & SECRET_KEYS
    assert used == own_secrets(service)


def test_redis_users_are_those_of_the_acl_command() -> None:
    from services.cli import acl

    assert {*acl.USERS, acl.ADMIN} == set(REDIS_USERS)
    assert all(acl.password_env(user) == redis_password_var(user) for user in REDIS_USERS)
