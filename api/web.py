"""Pages for browsers: the API docs served offline and the security headers of every answer.

* ``/docs`` is Swagger UI from the ``swagger-ui-bundle`` PyPI package, served at
  ``/static/docs/`` (FastAPI's recipe "self-hosting JavaScript and CSS for docs":
  ``docs_url=None`` and ``get_swagger_ui_html`` with local URLs), so the page works without
  the internet and asks no other host for anything. ReDoc has no such package: it is off.
* :class:`SecurityHeaders` (plain ASGI) adds ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer`` to every answer, and a
  Content-Security-Policy to the HTML pages: the maps (Folium pages with inline scripts and
  styles, their Leaflet files under /static/maps/) and the docs may load scripts, styles,
  images and fonts from this service only, never from another host, and may not be framed.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_ASSETS = "/static/docs"
# Folium pages and Swagger UI run inline scripts and styles; everything they load comes from
# this service; Leaflet and Swagger UI draw some icons as data: URIs.
PAGE_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
COMMON_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                  (b"referrer-policy", b"no-referrer"))


def swagger_ui_folder() -> str:
    """The Swagger UI files of the swagger-ui-bundle package."""
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from the installed package (``app`` made with
    ``docs_url=None, redoc_url=None``)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_folder()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # no badge fetched from the online validator
            swagger_ui_parameters={"validatorUrl": None})


def wants_csp(path: str) -> bool:
    """Whether ``path`` is a page that gets the Content-Security-Policy."""
    return path in ("/maps", "/docs") or path.startswith(("/maps/", "/public/", "/posters/"))


class SecurityHeaders:
    """Adds the headers above to every HTTP answer (the CSP to map and docs pages)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the security headers to every HTTP answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(COMMON_HEADERS)
        if wants_csp(scope.get("path", "")):
            extra.append((b"content-security-policy", PAGE_CSP.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
