"""Typed dependencies for the routes: the app state and the caller (API key → role)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from sqmy.app.auth import LOCAL_USER, ROLE_NAMES, Principal, authenticate, digest
from sqmy.service.errors import ErrorType, SqmyError
from sqmy.service.state import AppState

KEY_CACHE_SECONDS = 30.0  # a revoked key stops working within this time
_key_cache: dict[str, tuple[Principal | None, float]] = {}


def forget_cached_keys() -> None:
    """Make key changes (revocation) effective at once in this process."""
    _key_cache.clear()


def get_state(request: Request) -> AppState:
    return request.app.state.sqmy


StateDep = Annotated[AppState, Depends(get_state)]


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def get_principal(request: Request, state: StateDep) -> Principal:
    """The caller; 401 when auth is on and no valid key was presented."""
    if not state.auth:
        return LOCAL_USER
    key = _presented_key(request)
    if key is None:
        raise SqmyError(ErrorType.unauthorized, "需要 API 密钥：请在请求头 Authorization: Bearer <密钥> 中提供",
                        "Authorization")
    cache_key, now = digest(key), time.monotonic()
    cached = _key_cache.get(cache_key)
    if cached is None or cached[1] < now:
        principal = await run_in_threadpool(authenticate, state.db, key)
        _key_cache[cache_key] = cached = (principal, now + KEY_CACHE_SECONDS)
    if cached[0] is None:
        raise SqmyError(ErrorType.unauthorized, "API 密钥无效或已被吊销", "Authorization")
    return cached[0]


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.allows(role):
            raise SqmyError(ErrorType.forbidden, f"权限不足：此操作需要“{ROLE_NAMES[role]}”或更高角色，"
                            f"当前密钥为“{ROLE_NAMES[principal.role]}”")
        return principal
    return dependency


Editor = Annotated[Principal, Depends(require("editor"))]
Trainer = Annotated[Principal, Depends(require("trainer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
