"""POST /v1/classify and /v1/classify/batch."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends

from models.base import Doc
from service.api.deps import StateDep, require
from service.errors import ErrorResponse, ErrorType, SqmyError
from service.responses import JSONResponse
from service.routing import EngineUnavailableError
from service.schemas import BatchClassifyRequest, BatchPrediction, ClassifyItem, ClassifyRequest, Prediction
from service.state import AppState
from service.storage import classification_row, new_classification_id

router = APIRouter(prefix="/v1/classify", tags=["classify"], dependencies=[Depends(require("editor"))])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 413, 422, 503)
}


def _check_lengths(items: list[ClassifyItem], state: AppState, prefix: str = "") -> None:
    limit = state.settings.MAX_TEXT_CHARS
    for n, item in enumerate(items):
        if len(item.text) > limit:
            field = f"{prefix}{n}.text" if prefix else "text"
            raise SqmyError(ErrorType.too_large, f"字段 {field}：正文 {len(item.text)} 字，超过上限 {limit} 字", field)


async def _predict(jobs: list[tuple[Doc, str, int]], engine: str, state: AppState) -> list[Any]:
    """Micro-batched prediction; with ``auto``, BERT answers within the latency budget or TF-IDF does."""
    if engine != "auto" or "bert" not in state.router.engines or "tfidf" not in state.router.engines:
        return await state.batcher.submit(jobs)
    try:
        return await asyncio.wait_for(state.batcher.submit(jobs), state.settings.BERT_BUDGET_MS / 1000)
    except TimeoutError:
        state.metrics.errors.labels("bert_timeout").inc()
        return await state.batcher.submit([(doc, "tfidf", k) for doc, _, k in jobs])


async def _classify(items: list[ClassifyItem], engine: str, top_k: int, state: AppState) -> list[dict[str, Any]]:
    results = await _predict([(Doc(text=i.text, title=i.title), engine, top_k) for i in items], engine, state)
    for result in results:
        if isinstance(result, EngineUnavailableError):
            raise SqmyError(ErrorType.not_ready, str(result), "engine")
        if isinstance(result, Exception):
            raise SqmyError(ErrorType.engine, f"模型预测失败：{type(result).__name__}: {result}")
    out = [{"id": item.id, "classification_id": new_classification_id(), **result}
           for item, result in zip(items, results, strict=True)]
    state.classification_log.add([classification_row(item.model_dump(), result, "api")
                                  for item, result in zip(items, out, strict=True)])
    for result in out:
        state.metrics.classified.labels(result["engine"]).inc()
        if result["needs_review"]:
            state.metrics.needs_review.labels(result["engine"]).inc()
    return out


@router.post("", response_model=Prediction, responses=ERRORS, operation_id="classify-one")
async def classify(request: ClassifyRequest, state: StateDep) -> JSONResponse:
    """对一条社情民意/留言给出分类路径、主办与协办单位、置信度和是否需要人工复核。"""
    _check_lengths([request], state)
    results = await _classify([request], request.engine, request.top_k, state)
    return JSONResponse(results[0])


@router.post("/batch", response_model=BatchPrediction, responses=ERRORS, operation_id="classify-batch")
async def classify_batch(request: BatchClassifyRequest, state: StateDep) -> JSONResponse:
    """批量分类（条数上限见 /v1/info 的 max_batch_size）。"""
    limit = state.settings.MAX_BATCH_SIZE
    if len(request.items) > limit:
        raise SqmyError(ErrorType.too_large, f"字段 items：一次最多 {limit} 条，收到 {len(request.items)} 条", "items")
    _check_lengths(request.items, state, prefix="items.")
    results = await _classify(request.items, request.engine, request.top_k, state)
    return JSONResponse({"data": results, "count": len(results)})
