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
KEY_CACHE_SIZE = 4096  # keys remembered; a flood of made-up keys cannot grow the cache past this
_key_cache: dict[str, tuple[Principal | None, float]] = {}


MISSING_KEY = "需要 API 密钥：请在请求头 Authorization: Bearer <密钥> 中提供"
INVALID_KEY = "API 密钥无效或已被吊销"


def forget_cached_keys() -> None:
    """Make key changes (revocation) effective at once in this process."""
    _key_cache.clear()


async def get_state(request: Request) -> AppState:
    """The application state (``async``: a plain ``def`` dependency would cost a thread-pool hop per request)."""
    return request.app.state.sqmy


StateDep = Annotated[AppState, Depends(get_state)]


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``, else of ``X-API-Key``."""
    header = authorization or ""
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return x_api_key or None


async def principal_of(state: AppState, key: str) -> Principal | None:
    """The principal of a valid key, else ``None``; answers are cached for ``KEY_CACHE_SECONDS``."""
    cache_key, now = digest(key), time.monotonic()
    cached = _key_cache.get(cache_key)
    if cached is None or cached[1] < now:
        principal = await run_in_threadpool(authenticate, state.db, key)
        if len(_key_cache) >= KEY_CACHE_SIZE:
            _key_cache.clear()
        _key_cache[cache_key] = cached = (principal, now + KEY_CACHE_SECONDS)
    return cached[0]


async def get_principal(request: Request, state: StateDep) -> Principal:
    """The caller; 401 when auth is on and no valid key was presented."""
    if not state.auth:
        return LOCAL_USER
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    if key is None:
        raise SqmyError(ErrorType.unauthorized, MISSING_KEY, "Authorization")
    principal = await principal_of(state, key)
    if principal is None:
        raise SqmyError(ErrorType.unauthorized, INVALID_KEY, "Authorization")
    return principal


def check_role(principal: Principal, role: str) -> Principal:
    """``principal``, or 403 when its role is below ``role``."""
    if not principal.allows(role):
        raise SqmyError(ErrorType.forbidden, f"权限不足：此操作需要“{ROLE_NAMES[role]}”或更高角色，"
                        f"当前密钥为“{ROLE_NAMES[principal.role]}”")
    return principal


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        return check_role(principal, role)
    return dependency


def state_for(role: str) -> Callable[..., Awaitable[AppState]]:
    """A dependency that checks the caller's role (as ``require``) and gives the app state: one dependency
    instead of three (``require`` → ``get_principal`` → ``get_state``), for the hot routes, where FastAPI's
    solving of each sub-dependency is a measurable part of a request's CPU (docs/BENCHMARKS.md, #18 round 6)."""
    async def dependency(request: Request) -> AppState:
        state: AppState = request.app.state.sqmy
        if state.auth:
            check_role(await get_principal(request, state), role)
        return state
    return dependency


Editor = Annotated[Principal, Depends(require("editor"))]
Trainer = Annotated[Principal, Depends(require("trainer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
