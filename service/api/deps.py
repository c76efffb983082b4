"""Typed dependencies for the routes (values placed on ``app.state`` by the lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.state import AppState


def get_state(request: Request) -> AppState:
    return request.app.state.sqmy


StateDep = Annotated[AppState, Depends(get_state)]
