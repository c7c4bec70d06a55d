"""docs/privacy.md and docs/responsible-use.md: every setting they name exists, every file the data
directory can hold is in privacy.md's table (here against the code's names; tests/e2e/test_purge.py
against a real data directory), every test they cite exists, and both are linked from the README and the
dashboard's footer, which serves them."""

from __future__ import annotations

import fnmatch
import importlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.common.job_store import FILES
from services.ui import docs_pages
from tests.support.privacy_doc import data_dir_patterns
from tests.unit.docs.test_readme_env import SETTINGS

ROOT = Path(__file__).resolve().parents[3]
DOCS = {name: (ROOT / "docs" / name).read_text() for name in ("privacy.md", "responsible-use.md")}


def known_settings() -> set[str]:
    known: set[str] = set()
    for path in SETTINGS:
        module, name = path.split(":")
        fields = getattr(importlib.import_module(module), name).model_fields
        known |= {f"EMOSTREAM_{f.upper()}" for f in fields}
    return known


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_setting_named_exists(name: str) -> None:
    named = set(re.findall(r"(EMOSTREAM_[A-Z_]+[A-Z])", DOCS[name]))
    assert "EMOSTREAM_PRIVACY" in named
    unknown = sorted(named - known_settings())
    assert not unknown, f"{name} names settings that do not exist: {unknown}"


def test_every_file_a_job_writes_is_listed() -> None:
    patterns = data_dir_patterns()
    for name in [*FILES, ".journal", "input-visit.mp4"]:
        path = f"jobs/0123abcd/{name}"
        assert any(fnmatch.fnmatchcase(path, p) for p in patterns), f"{path} is not in docs/privacy.md"
    for path in ("redis/appendonlydir/appendonly.aof.1.incr.aof", "redis/emostream.lock", "source.key"):
        assert any(fnmatch.fnmatchcase(path, p) for p in patterns), f"{path} is not in docs/privacy.md"


def test_the_listing_parser_reads_bare_names_in_the_first_paths_folder() -> None:
    table = "### On disk\n\n| file | x |\n|---|---|\n| `jobs/{id}/a.csv`, `b.json` | y |\n| `key` | z |\n\n**"
    assert data_dir_patterns(table) == ["jobs/*/a.csv", "jobs/*/b.json", "key"]


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_test_cited_exists(name: str) -> None:
    for path, function in re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", DOCS[name]):
        assert (ROOT / path).is_file(), path
        if function:
            assert f"def {function}(" in (ROOT / path).read_text(), f"{path}::{function}"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_linked_from_the_readme_and_served_from_the_dashboard_footer(name: str) -> None:
    assert f"(docs/{name})" in (ROOT / "README.md").read_text()
    assert f"(/docs/{name})" in docs_pages.FOOTER
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(docs_pages.build_docs_router())
    with TestClient(app) as client:
        page = client.get(f"/docs/{name}")
        assert page.status_code == 200 and page.text == DOCS[name]
        assert page.headers["content-type"].startswith("text/markdown")
        assert client.get("/docs/..%2Fpyproject.toml").status_code == 404
