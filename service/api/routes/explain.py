"""POST /v1/explain: the words of the title and text that drove the topic decision."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from sqmy.app.routing import EngineUnavailableError
from sqmy.models.base import Doc
from sqmy.models.explain import UnknownTopicError, explain
from sqmy.service.api.deps import StateDep, require
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, engine_unavailable, error_responses
from sqmy.service.responses import JSONResponse
from sqmy.service.schemas import ExplainRequest, Explanation

router = APIRouter(prefix="/v1/explain", tags=["explain"], dependencies=[Depends(require("editor"))])

ERRORS = error_responses(*KEYED, *BODY, 503)


@router.post("", response_model=Explanation, responses=ERRORS, operation_id="explain-one")
def explain_one(request: ExplainRequest, state: StateDep) -> JSONResponse:
    """解释分类结果：标题和正文中哪些词支持（正权重）或反对（负权重）该分类，位置为字符偏移。"""
    limit = state.settings.MAX_TEXT_CHARS
    if len(request.text) > limit:
        raise SqmyError(ErrorType.too_large, f"字段 text：正文 {len(request.text)} 字，超过上限 {limit} 字", "text")
    try:
        engine = state.router.pick(request.engine or state.settings.ENGINE)
    except EngineUnavailableError as exc:
        raise engine_unavailable(exc, request.engine, bool(state.router.engines)) from exc
    try:
        result = explain(engine, Doc(text=request.text, title=request.title), topic=request.topic)
    except UnknownTopicError as exc:
        raise SqmyError(ErrorType.unknown_label, f"字段 topic：{exc}", "topic") from exc
    return JSONResponse(result)
