"""A route class for the hot JSON POST routes (``/v1/classify``): a well-formed body skips FastAPI's per-request
dependency solving.

FastAPI handles a request by parsing the content type with ``email.message``, decoding the JSON, then solving the
endpoint's dependency tree and validating the body through it: about a quarter of the event loop's CPU for a
``/v1/classify`` request (docs/BENCHMARKS.md, #18 round 6). For an endpoint marked with ``fast_json_body`` this
route first tries the short way: a ``Content-Type: application/json`` body decoded by orjson and validated by the
body model itself, the endpoint's one dependency (the caller's role and the app state) awaited directly, the
endpoint called. Whatever the short way does not accept (another content type, an empty or malformed body, a body
the model refuses) goes through FastAPI's own handler with the same request (its body is kept), so every error
response, and the order of the checks (role before body), is FastAPI's, unchanged. The OpenAPI document comes from
the endpoint's signature as before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import routing
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
FAST_ATTRIBUTE = "__sqmy_fast_json_body__"


def fast_json_body(model: type[BaseModel],
                   dependency: Callable[[Request], Awaitable[Any]]) -> Callable[[Endpoint], Endpoint]:
    """Mark ``endpoint(body, value)`` (``body`` of type ``model``, ``value`` given by ``Depends(dependency)``, a
    dependency of the request alone) for ``FastJSONRoute``'s short way."""
    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, FAST_ATTRIBUTE, (model, dependency))
        return endpoint
    return mark


def is_json(content_type: str | None) -> bool:
    """``application/json``, with parameters or not (what FastAPI decodes as JSON, less ``+json`` subtypes)."""
    return content_type is not None and content_type.partition(";")[0].strip().lower() == "application/json"


async def parsed_body(request: Request, model: type[BaseModel]) -> BaseModel | None:
    """The request's body as ``model`` when it is JSON the model accepts, else ``None`` (FastAPI's way decides)."""
    if not is_json(request.headers.get("content-type")):
        return None
    body = await request.body()  # kept on the request: FastAPI's handler reads it again from there
    if not body:
        return None
    try:
        return model.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):  # FastAPI's json.loads and messages answer
        return None


class FastJSONRoute(APIRoute):
    """See the module docstring. Routes without ``fast_json_body``, and routes given other dependencies (by the
    router or where it is included), are FastAPI's alone."""

    def _dependency_calls(self) -> list[Any]:
        """The calls of the endpoint's dependencies as FastAPI will solve them (the included route's, whose
        dependencies also hold the router's and the include's)."""
        route: Any = self
        context = getattr(routing, "_effective_route_context_var", None)
        effective = context.get() if context is not None else None
        if effective is not None and getattr(effective, "original_route", None) is self:
            route = effective
        return [dependant.call for dependant in route.dependant.dependencies]

    def get_route_handler(self) -> Handler:
        slow = super().get_route_handler()
        fast = getattr(self.endpoint, FAST_ATTRIBUTE, None)
        if fast is None or self._dependency_calls() != [fast[1]]:
            return slow
        model, dependency = fast
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            body = await parsed_body(request, model)
            if body is None:
                return await slow(request)
            response: Response = await endpoint(body, await dependency(request))
            return response

        return handler
