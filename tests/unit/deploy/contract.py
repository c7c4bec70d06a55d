"""What the deploy files (compose.yaml, deploy/k8s) must agree on with the code and with each other."""

from __future__ import annotations

import re
from pathlib import Path

from services.cli import SERVICES
from services.cli.preflight import settings_class

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
GPU_SERVICES = ("detector", "classifier")
#: services whose EMOSTREAM_DATA_DIR is the shared job storage (uploads and job outputs)
JOB_SERVICES = ("ingest", "ui")
DATA_DIR = "/data"
#: the Redis ACL users of ``python -m services.cli acl``: one per service, named like it, plus admin
REDIS_USERS = (*SERVICES, "admin")
ACL_COMMAND = ["python", "-m", "services.cli", "acl", "--out", "/acl/users.acl"]
ACL_FILE = "/acl/users.acl"


def settings_fields(service: str) -> set[str]:
    return set(settings_class(service).model_fields)


def env_names(service: str) -> set[str]:
    return {f"EMOSTREAM_{name.upper()}" for name in settings_fields(service)}


def redis_password_var(user: str) -> str:
    """The env var (and Secret key) holding a Redis ACL user's password, as the acl command reads it."""
    return f"EMOSTREAM_REDIS_PASSWORD_{user.upper()}"


#: the secrets: the dashboard login, the REST token, the key that seals camera passwords, every Redis user's
#: password
SECRET_KEYS = {
    "EMOSTREAM_UI_PASSWORD",
    "EMOSTREAM_API_TOKEN",
    "EMOSTREAM_SOURCE_KEY",
    *map(redis_password_var, REDIS_USERS),
}
#: the services that read a secret other than their own Redis password (services.cli.child_env.OWN_SECRETS)
SECRET_READERS = {
    "EMOSTREAM_UI_PASSWORD": {"ui"},
    "EMOSTREAM_API_TOKEN": {"ui"},
    "EMOSTREAM_SOURCE_KEY": {"ui", "ingest"},
}


def own_secrets(service: str) -> set[str]:
    """The secrets a container of ``service`` gets: its Redis password and what it reads itself."""
    return {redis_password_var(service)} | {k for k, readers in SECRET_READERS.items() if service in readers}


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file (comments and blank lines skipped)."""
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", path.read_text(), re.M))
