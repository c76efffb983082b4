"""One error body for every failure: ``{"error", "error_type", "field"}``, status codes mapped in one place."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqmy.service.responses import JSONResponse


class ErrorType(StrEnum):
    validation = "validation"
    invalid_json = "invalid_json"
    too_large = "too_large"
    unknown_label = "unknown_label"
    not_found = "not_found"
    not_ready = "not_ready"
    engine = "engine"
    unauthorized = "unauthorized"
    forbidden = "forbidden"
    conflict = "conflict"
    rate_limited = "rate_limited"
    internal = "internal"


STATUS = {
    ErrorType.validation: 422, ErrorType.invalid_json: 400, ErrorType.too_large: 413,
    ErrorType.unknown_label: 422, ErrorType.not_found: 404, ErrorType.not_ready: 503,
    ErrorType.engine: 503, ErrorType.unauthorized: 401, ErrorType.forbidden: 403, ErrorType.conflict: 409,
    ErrorType.rate_limited: 429, ErrorType.internal: 500,
}


class ErrorResponse(BaseModel):
    error: str
    error_type: ErrorType
    field: str | None = None
    details: list[dict[str, Any]] | None = None


class SqmyError(Exception):
    """An error with its type, a 简体中文 message naming the field, and optional extra body members."""

    def __init__(self, error_type: ErrorType, message: str, field: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.error_type, self.message, self.field, self.extra = error_type, message, field, extra or {}
        super().__init__(message)


_MESSAGES = {
    "missing": "缺少必填字段",
    "string_type": "必须是字符串",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "list_type": "必须是数组",
    "dict_type": "必须是 JSON 对象",
    "model_type": "必须是 JSON 对象",
    "model_attributes_type": "必须是 JSON 对象",
    "string_too_short": "不能为空",
    "too_short": "不能为空",
    "literal_error": "取值无效",
    "enum": "取值无效",
    "extra_forbidden": "不是可识别的字段",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _describe(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "string_too_long":
        return f"超过长度上限 {err.get('ctx', {}).get('max_length')}"
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        ctx = err.get("ctx", {})
        return f"取值超出范围（{', '.join(f'{k} {v}' for k, v in ctx.items())}）"
    if kind in ("literal_error", "enum"):
        return f"取值无效，可选：{err.get('ctx', {}).get('expected', '')}"
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", err.get("msg", "")))
    return _MESSAGES.get(kind, err.get("msg", "无效"))


def error_response(error_type: ErrorType, message: str, field: str | None = None,
                   details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "error_type": error_type.value, "field": field}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=STATUS[error_type])


def install_error_handlers(app: FastAPI) -> None:
    def count(error_type: ErrorType) -> None:
        metrics = getattr(app.state, "metrics", None)
        if metrics is not None:
            metrics.errors.labels(error_type.value).inc()

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            count(ErrorType.invalid_json)
            message = "请求体不是合法的 JSON（需要 UTF-8 编码的 JSON 对象）"
            return error_response(ErrorType.invalid_json, message, "body")
        details = [{"field": _field(tuple(e.get("loc", ()))), "message": _describe(e)} for e in errors]
        first = details[0]
        count(ErrorType.validation)
        return error_response(ErrorType.validation, f"字段 {first['field']}：{first['message']}", first["field"],
                              details)

    @app.exception_handler(SqmyError)
    async def _sqmy(_request: Request, exc: SqmyError) -> JSONResponse:
        count(exc.error_type)
        response = error_response(exc.error_type, exc.message, exc.field)
        if exc.extra:
            response = JSONResponse({**orjson.loads(response.body), **exc.extra}, status_code=response.status_code)
        if exc.error_type == ErrorType.unauthorized:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            response = error_response(ErrorType.not_found, "接口不存在")
        elif exc.status_code == 400:  # the body could not be decoded at all (e.g. GBK bytes)
            count(ErrorType.invalid_json)
            response = error_response(ErrorType.invalid_json, "请求体无法解析：需要 UTF-8 编码的 JSON 对象", "body")
        elif exc.status_code == 405:
            response = error_response(ErrorType.validation, "该接口不支持此请求方法")
        else:
            response = error_response(ErrorType.validation, str(exc.detail))
        response.status_code = exc.status_code
        for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        count(ErrorType.internal)
        return error_response(ErrorType.internal, f"服务器内部错误：{type(exc).__name__}")
