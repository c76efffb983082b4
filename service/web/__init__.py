"""The editors' web page: static HTML/CSS/JS (no build step, no CDN) served by the API app itself.

``/`` is the page (views are hash routes: ``#/``, ``#/archive``, ``#/models``); its assets live under
``/static/``. Both are public; the page sends the API key the editor logs in with as ``Authorization: Bearer``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"
NO_CACHE = {"Cache-Control": "no-cache"}  # revalidate (ETag) so a new release is picked up at once


class _StaticFiles(StaticFiles):
    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(NO_CACHE)
        return response


def mount_web(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/static``."""
    app.mount(STATIC_PREFIX, _StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=NO_CACHE)
