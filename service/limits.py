"""Limits applied before a request's body is read: API key, rate limit, body size (a pure ASGI middleware).

A request that carries a body (``Content-Length`` > 0 or chunked) is turned away at once when auth is on and it
has no valid key (401); a caller past its rate limit gets 429 with ``Retry-After``; a body over its route's limit
gets 413 from its ``Content-Length`` before a byte of it is read, and a chunked one is cut off at the limit while
it streams. So what an unauthenticated client sends never reaches memory or disk."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqmy.app.ratelimit import RateLimiter
from sqmy.core.config import Settings
from sqmy.service.api.deps import INVALID_KEY, MISSING_KEY, presented_key, principal_of
from sqmy.service.errors import ErrorType, error_response

Scope = dict[str, Any]
DRAIN_BYTES = 1 << 20  # after a cut-off, up to this much more is read and dropped, so that a body that was only
# a little too large ends cleanly and its client reads the 413 (closing on unread data resets the connection)
UPLOAD_PATH, BATCH_PATH = "/v1/batch-jobs", "/v1/classify/batch"


@contextmanager
def spool_uploads_under(directory: Path) -> Iterator[None]:
    """Uploads that outgrow memory are spooled to temporary files: put those under ``directory`` (SQMY_HOME), not
    the system's /tmp, for as long as the service runs."""
    directory.mkdir(parents=True, exist_ok=True)
    before, tempfile.tempdir = tempfile.tempdir, str(directory.resolve())
    try:
        yield
    finally:
        tempfile.tempdir = before


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"


@dataclass(frozen=True)
class BodyLimit:
    """A route's body limit in bytes, and the Chinese 413 message (with the field) that names it."""

    size: int
    message: str
    field: str = "body"


class BodyLimits:
    """The body limit of each route: uploads, the classify batch, everything else."""

    def __init__(self, settings: Settings) -> None:
        self.upload = BodyLimit(settings.upload_body_bytes, f"字段 file：上传文件超过上限 {settings.MAX_UPLOAD_MB} MB"
                                "（SQMY_MAX_UPLOAD_MB）", "file")
        self.batch = BodyLimit(settings.batch_body_bytes, f"请求体超过上限 {_mb(settings.batch_body_bytes)}（一批最多 "
                               "SQMY_MAX_BATCH_SIZE 条、每条最多 SQMY_MAX_TEXT_CHARS 字）")
        self.default = BodyLimit(settings.MAX_BODY_KB << 10,
                                 f"请求体超过上限 {settings.MAX_BODY_KB} KB（SQMY_MAX_BODY_KB）")

    def limit(self, method: str, path: str) -> BodyLimit:
        if method == "POST" and path == UPLOAD_PATH:
            return self.upload
        if method == "POST" and path == BATCH_PATH:
            return self.batch
        return self.default


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _declared_length(headers: dict[str, str]) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def _error(scope: Scope, error_type: ErrorType, message: str, field: str | None = None) -> Any:
    """The error response, counted in the service's error metrics."""
    metrics = getattr(scope["app"].state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(error_type.value).inc()
    return error_response(error_type, message, field)


class LimitsMiddleware:
    """See the module docstring. Rate limits count requests to ``/v1/…`` (not health checks, metrics or pages)."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings, self.bodies = app, settings, BodyLimits(settings)
        self.limiter: RateLimiter | None = None  # built on the first request, when the auth mode is known

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        state = getattr(scope["app"].state, "sqmy", None) if scope["type"] == "http" else None
        if state is None:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        length = _declared_length(headers)
        has_body = bool(length) or "transfer-encoding" in headers
        caller, refusal = await self._caller(state, headers, scope, has_body)
        if refusal is None and caller is not None and scope["path"].startswith("/v1/"):
            refusal = self._rate_limited(state, caller, scope)
        limit = self.bodies.limit(scope["method"], scope["path"])
        if refusal is None and length is not None and length > limit.size:
            refusal = _error(scope, ErrorType.too_large, limit.message, limit.field)
        if refusal is not None:
            if has_body:  # the body is not read: close the connection rather than drain it
                refusal.headers["Connection"] = "close"
            await refusal(scope, receive, send)
            return
        await self._within(limit, scope, receive, send)

    async def _caller(self, state: Any, headers: dict[str, str], scope: Scope,
                      has_body: bool) -> tuple[str | None, Any]:
        """Who is calling (for the rate limit), or the 401 for a body sent without a valid key."""
        if not state.auth:
            client = scope.get("client")
            return f"addr:{client[0] if client else '-'}", None
        key = presented_key(headers.get("authorization"), headers.get("x-api-key"))
        principal = await principal_of(state, key) if key else None
        if principal is not None:
            return f"key:{principal.key_id}", None
        if not has_body:
            return None, None  # the route answers: public, or 401
        response = _error(scope, ErrorType.unauthorized, INVALID_KEY if key else MISSING_KEY, "Authorization")
        response.headers["WWW-Authenticate"] = "Bearer"
        return None, response

    def _rate_limited(self, state: Any, caller: str, scope: Scope) -> Any:
        if self.limiter is None:
            self.limiter = RateLimiter(self.settings.rate_limit(state.auth), self.settings.RATE_LIMIT_BURST)
        wait = self.limiter.take(caller)
        if not wait:
            return None
        seconds = RateLimiter.retry_after(wait)
        per = "每个 API 密钥" if state.auth else "每个客户端地址"
        response = _error(
            scope, ErrorType.rate_limited, f"请求过于频繁：{per}每秒最多 {self.limiter.rate:g} 次（可连续 "
            f"{self.limiter.burst} 次，SQMY_RATE_LIMIT_RPS / SQMY_RATE_LIMIT_BURST），请 {seconds} 秒后重试")
        response.headers["Retry-After"] = str(seconds)
        return response


    async def _within(self, limit: BodyLimit, scope: Scope, receive: Any, send: Any) -> None:
        """Run the app, cutting the body off at ``limit``: past it the app sees the client go away, whatever it
        answers is dropped, and the client gets the 413."""
        received, cut, started, more = 0, False, False, True

        async def counted_receive() -> dict[str, Any]:
            nonlocal received, cut, more
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more = message.get("more_body", False)
                if received > limit.size:
                    cut = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if cut and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not cut or started:
                raise
        if cut and not started:
            if more:
                await _drain(receive)
            response = _error(scope, ErrorType.too_large, limit.message, limit.field)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)


async def _drain(receive: Any) -> None:
    """Read and drop what is left of a body, up to ``DRAIN_BYTES``."""
    drained = 0
    while drained <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
