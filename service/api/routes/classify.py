"""POST /v1/classify and /v1/classify/batch."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from sqmy.app.results import Suggestion
from sqmy.app.routing import EngineUnavailableError
from sqmy.app.storage import new_classification_id, row_builders
from sqmy.models.base import Doc
from sqmy.service.api.deps import state_for
from sqmy.service.api.routes.similar import merge_hint, similar_for
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, engine_unavailable, error_responses
from sqmy.service.fastroute import FastJSONRoute, fast_json_body
from sqmy.service.responses import JSONResponse
from sqmy.service.schemas import BatchClassifyRequest, BatchPrediction, ClassifyItem, ClassifyRequest, ClassifyResponse
from sqmy.service.state import AppState

editor_state = state_for("editor")  # the caller is at least an editor
EditorState = Annotated[AppState, Depends(editor_state)]
router = APIRouter(prefix="/v1/classify", tags=["classify"], route_class=FastJSONRoute)

ERRORS = error_responses(*KEYED, *BODY, 503)


def _check_lengths(items: list[ClassifyItem], state: AppState, prefix: str = "") -> None:
    limit = state.settings.MAX_TEXT_CHARS
    for n, item in enumerate(items):
        if len(item.text) > limit:
            field = f"{prefix}{n}.text" if prefix else "text"
            raise SqmyError(ErrorType.too_large, f"字段 {field}：正文 {len(item.text)} 字，超过上限 {limit} 字", field)


async def _classify(items: list[ClassifyItem], engine: str | None, top_k: int | None, facts: bool | None,
                    state: AppState) -> list[dict[str, Any]]:
    """Route the items (engine, top-k and facts default to SQMY_ENGINE / SQMY_TOP_K / SQMY_FACTS), log them
    (phone and ID numbers masked unless SQMY_STORE_RAW_TEXT), count them."""
    docs = [Doc(text=i.text, title=i.title) for i in items]
    try:
        results = await state.serving.classify(docs, engine=engine or state.settings.ENGINE,
                                               top_k=top_k or state.settings.TOP_K, facts=facts)
    except EngineUnavailableError as exc:
        raise engine_unavailable(exc, engine, bool(state.router.engines)) from exc
    suggestions: list[Suggestion] = []
    for result in results:
        if isinstance(result, EngineUnavailableError):
            raise engine_unavailable(result, engine, bool(state.router.engines))
        if isinstance(result, Exception):
            raise SqmyError(ErrorType.engine, f"模型预测失败：{type(result).__name__}: {result}")
        suggestions.append(result)
    out = [{"id": item.id, "classification_id": new_classification_id(), **suggestion.to_dict()}
           for item, suggestion in zip(items, suggestions, strict=True)]
    raw = state.settings.STORE_RAW_TEXT or not state.settings.MASK_PII
    dumped = [{"id": item.id, "title": item.title, "text": item.text} for item in items]  # what a row stores
    lane = state.serving.lane_for(docs)  # a big request: its rows' masking and hashing in the bulk worker too
    stored = lane.stored([(i.id, i.title or "", i.text) for i in items], raw) if lane is not None else None
    written = state.classification_log.add(row_builders(dumped, out, "api", raw=raw, stored=stored))
    # the similarity index takes the logged rows from there (the indexer process, sqmy.app.indexing)
    if written is not None:  # the log was idle: store the classification before acknowledging it (~1 ms)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(written)), 5.0)
    for suggestion in suggestions:
        state.metrics.classified_count(suggestion.engine).inc()
        if suggestion.needs_review:
            state.metrics.needs_review_count(suggestion.engine).inc()
    return out


@router.post("", response_model=ClassifyResponse, responses=ERRORS, operation_id="classify-one")
@fast_json_body(ClassifyRequest, editor_state)
async def classify(request: ClassifyRequest, state: EditorState) -> JSONResponse:
    """对一条社情民意/留言给出分类路径、主办与协办单位、置信度和是否需要人工复核。"""
    _check_lengths([request], state)
    wanted = request.similar if state.similar is not None else 0  # SQMY_SIMILAR=off: an empty list
    found = await similar_for(state, request.text, request.title, wanted) if wanted else None
    hint = await run_in_threadpool(merge_hint, state, found) if found else None
    results = await _classify([request], request.engine, request.top_k, request.facts, state)
    if request.similar:
        results[0]["similar"] = found or []
    if hint is not None:
        results[0]["merge_group"] = hint
    return JSONResponse(results[0])


@router.post("/batch", response_model=BatchPrediction, responses=ERRORS, operation_id="classify-batch")
@fast_json_body(BatchClassifyRequest, editor_state)
async def classify_batch(request: BatchClassifyRequest, state: EditorState) -> JSONResponse:
    """批量分类（条数上限见 /v1/info 的 max_batch_size）。"""
    limit = state.settings.MAX_BATCH_SIZE
    if len(request.items) > limit:
        raise SqmyError(ErrorType.too_large, f"字段 items：一次最多 {limit} 条，收到 {len(request.items)} 条", "items")
    _check_lengths(request.items, state, prefix="items.")
    results = await _classify(request.items, request.engine, request.top_k, request.facts, state)
    return JSONResponse({"data": results, "count": len(results)})
