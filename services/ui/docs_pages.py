"""The two documents the dashboard's footer links to, served as Markdown text: what is stored and how to
erase it (docs/privacy.md) and where emotion recognition is restricted (docs/responsible-use.md)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"  # the repository's, and the image's (Dockerfile)
PAGES = {"privacy.md": "Privacy", "responsible-use.md": "Responsible use"}  # file -> link text
FOOTER = " · ".join(f"[{title}](/docs/{name})" for name, title in PAGES.items())


def build_docs_router(docs_dir: Path = DOCS_DIR) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs/{name}")
    def page(name: str) -> PlainTextResponse:
        if name not in PAGES:
            raise HTTPException(404, f"no document {name!r}: there are {', '.join(PAGES)}")
        path = docs_dir / name
        if not path.is_file():
            raise HTTPException(404, f"{name} is not installed beside this service ({docs_dir})")
        return PlainTextResponse(path.read_text(), media_type="text/markdown; charset=utf-8")

    return router
