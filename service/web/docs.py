"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from this server's own files: no CDN, no web fonts.

FastAPI's "self-hosting JavaScript and CSS for docs" recipe: the app is built with ``docs_url=None`` and
``redoc_url=None`` and these routes render the same pages with the vendored assets under
``/static/vendor/`` (versions and licences in ``static/vendor/README.md``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse

VENDOR = "/static/vendor"
SWAGGER_PARAMETERS = {"validatorUrl": None, "defaultModelsExpandDepth": 0}  # validatorUrl: no badge from elsewhere
# The browser may load nothing from another host (ReDoc's bundle shows a logo from its CDN; the image is refused
# and ReDoc hides it). Inline scripts and styles: FastAPI's page templates and the bundles' CSS-in-JS need them.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _own_host_only(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CSP
    return response


def mount_docs(app: FastAPI) -> None:
    """Add ``GET /docs`` and ``GET /redoc`` (public, left out of the OpenAPI schema)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _own_host_only(get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} - 接口文档",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        ))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _own_host_only(get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} - 接口文档",
            redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png", with_google_fonts=False,
        ))
