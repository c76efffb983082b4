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
from sqmy.service.validation_messages import describe_errors


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


RESPONSE_DESCRIPTIONS = {
    400: "请求体无法解析（不是合法的 JSON、不是 UTF-8，或 multipart 表单格式错误）",
    401: "缺少 API 密钥，或密钥无效、已吊销（启用鉴权时）",
    403: "密钥的角色权限不足",
    404: "所指的对象不存在",
    409: "与当前状态冲突",
    413: "请求体、正文或条数超过上限",
    422: "字段校验失败：error 为中文说明，field 指明字段",
    429: "请求过于频繁：按 Retry-After 头等待后重试",
    503: "模型未就绪或所选引擎不可用",
}
KEYED = (401, 429)  # any route behind an API key (rate limits are per key)
BODY = (400, 413, 422)  # any route that reads a request body


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's error statuses, all with the one error body."""
    return {code: {"model": ErrorResponse, "description": RESPONSE_DESCRIPTIONS[code]} for code in sorted(set(codes))}


class SqmyError(Exception):
    """An error with its type, a 简体中文 message naming the field, and optional extra body members."""

    def __init__(self, error_type: ErrorType, message: str, field: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.error_type, self.message, self.field, self.extra = error_type, message, field, extra or {}
        super().__init__(message)


_UNREADABLE = "请求体无法解析：需要 UTF-8 编码的 JSON 对象"
_UNREADABLE_FORM = "请求体无法解析：multipart/form-data 表单格式错误"
_HTTP_STATUS = {401: "需要 API 密钥", 403: "权限不足", 406: "无法提供所要求的响应格式", 408: "请求超时",
                411: "缺少 Content-Length", 413: "请求体过大", 414: "网址过长", 415: "不支持的请求体格式",
                429: "请求过于频繁，请稍后再试", 431: "请求头过大"}


def engine_unavailable(exc: Exception, requested: str | None, loaded: bool) -> SqmyError:
    """A request naming an engine this server has not loaded, while it serves others, is the client's to change
    (422, like an unknown label); no model at all, or the configured default missing, is not being ready (503)."""
    if requested and loaded:
        return SqmyError(ErrorType.unknown_label, f"字段 engine：{exc}", "engine")
    return SqmyError(ErrorType.not_ready, str(exc), "engine")


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
        details = describe_errors(errors)
        first = details[0]
        count(ErrorType.validation)
        text = first["message"] if first["field"] == "body" else f"字段 {first['field']}：{first['message']}"
        return error_response(ErrorType.validation, text, first["field"], details)

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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            response = error_response(ErrorType.not_found, "接口不存在")
        elif exc.status_code == 400:  # the body could not be decoded at all (GBK bytes, a broken multipart form)
            count(ErrorType.invalid_json)
            multipart = request.headers.get("content-type", "").startswith("multipart/")
            response = error_response(ErrorType.invalid_json, _UNREADABLE_FORM if multipart else _UNREADABLE, "body")
        elif exc.status_code == 405:
            response = error_response(ErrorType.validation, "该接口不支持此请求方法")
        else:  # Starlette's own details are English: say it in Chinese by status
            response = error_response(ErrorType.validation, _HTTP_STATUS.get(exc.status_code, "请求无法处理"))
        response.status_code = exc.status_code
        for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        count(ErrorType.internal)
        return error_response(ErrorType.internal, f"服务器内部错误：{type(exc).__name__}")
