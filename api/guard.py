"""The request guard, plain ASGI (nothing buffered, no cost on other requests).

* A write (POST, PUT, PATCH, DELETE) is authenticated from its Authorization header before a
  byte of its body is read: without a valid token it gets its 401 at once. Open311 reports
  may carry their ``api_key`` in the form instead, and a resident's rating of a closed
  incident its one-time code; their body is held to the small limit. The QR posters' public
  form (``/public/report``) carries the poster's key in the form.
* Every body is counted as it arrives and refused with 413 at its limit, whatever the headers
  say (a chunked body has no Content-Length): uploads (datasets, CSV imports) up to
  ``max_upload_bytes`` (GPS tracks too), every other body up to ``max_body_bytes``.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import authenticate, cached_principal
from api.errors import ApiError
from api.settings import Settings

MULTIPART_MARGIN = 64 * 1024  # form fields and boundaries around an upload, bytes
UPLOAD_PATHS = frozenset({"/datasets", "/workers/import", "/party-members/import",
                          "/organisations/import", "/levels/import"})
TRACK_UPLOAD = re.compile(r"/routes/[0-9]+/tracks")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN311_PREFIX = "/open311/"
# the QR posters' public report form: its key is in the form, checked by the router
PUBLIC_WRITES = frozenset({"/public/report"})
# A resident rates a closed incident with the one-time code of their report, without a token
# (api.services.feedback): the router decides.
FEEDBACK_PATH = re.compile(r"^/incidents/\d{1,18}/feedback/?$")


class BodyTooLargeError(Exception):
    """Raised from ``receive`` once a body has passed its limit."""


def _is_upload(method: str, path: str) -> bool:
    """Dataset and CSV uploads, and GPS tracks (``/routes/{id}/tracks``: a day at 1 s is a
    few MB of GPX)."""
    if method != "POST":
        return False
    path = path.rstrip("/")
    return path in UPLOAD_PATHS or TRACK_UPLOAD.fullmatch(path) is not None


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The most body bytes a request may send."""
    if _is_upload(method, path):
        return settings.max_upload_bytes + MULTIPART_MARGIN
    return settings.max_body_bytes


def too_large(settings: Settings, method: str, path: str) -> ApiError:
    """The 413 error for a body above the limit of ``method`` ``path`` (uploads have their own)."""
    if _is_upload(method, path):
        mb = settings.max_upload_bytes / 1024 / 1024
        return ApiError(413, "upload_too_large", f"上传内容超过上限 {mb:g} MB",
                        f"request body larger than the limit of {mb:g} MB")
    kb = settings.max_body_bytes / 1024
    return ApiError(413, "body_too_large", f"请求内容超过上限 {kb:g} KB",
                    f"request body larger than the limit of {kb:g} KB")


def _declared_length(scope: Scope) -> int | None:
    length = dict(scope["headers"]).get(b"content-length", b"")
    return int(length) if length.isdigit() else None


async def _unauthenticated(scope: Scope) -> ApiError | None:
    """The 401 for a write without a valid token, found before its body is read."""
    if scope["method"] not in WRITE_METHODS:
        return None
    request = Request(scope)
    if scope["path"].startswith(OPEN311_PREFIX) and not request.headers.get("authorization"):
        return None  # api_key in the query or the form: the router checks it
    if scope["path"] in PUBLIC_WRITES:
        return None
    if FEEDBACK_PATH.match(scope["path"]) and not request.headers.get("authorization"):
        return None  # a feedback code in the body: the router checks it
    if cached_principal(request) is not None:
        return None  # a token this process has seen valid, not revoked since
    try:
        await run_in_threadpool(authenticate, request)
    except ApiError as error:
        return error
    return None


async def _answer(error: ApiError, scope: Scope, send: Send) -> None:
    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    response = JSONResponse(error.body(), status_code=error.status, headers=error.headers)
    await response(scope, no_body, send)


class _CountedRequest:
    """One request whose body is counted as it arrives; past ``limit`` the app's answer
    (to a body cut short) is replaced by the 413."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int,
                 error: ApiError) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.limit, self.error = limit, error
        self.received = 0
        self.exceeded = self.started = self.answered = False

    async def receive(self) -> Message:
        if self.exceeded:
            raise BodyTooLargeError
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLargeError
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded:
            await self.refuse()
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self) -> None:
        """Send the 413, once, unless an answer has already begun."""
        if not self.started and not self.answered:
            self.answered = True
            await _answer(self.error, self.scope, self._send)

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            if not self.exceeded:
                raise
            await self.refuse()


class RequestGuard:
    """Authenticate writes before reading their body; count every body against its limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse HTTP requests whose body is larger than allowed, declared or as it streams in."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = body_limit(self.settings, method, path)
        declared = _declared_length(scope)
        error = too_large(self.settings, method, path)
        if declared is not None and declared > limit:
            await _answer(error, scope, send)
            return
        refused = await _unauthenticated(scope)
        if refused is not None:
            await _answer(refused, scope, send)
            return
        await _CountedRequest(scope, receive, send, limit, error).run(self.app)
