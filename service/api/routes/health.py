"""Liveness, readiness and Prometheus metrics (public, outside /v1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import Response

from sqmy.app.bootstrap import building
from sqmy.models.base import Doc
from sqmy.service.responses import JSONResponse

router = APIRouter(tags=["health"])
# The classic text exposition format: every Prometheus server reads it (the metric names are all plain ASCII).
METRICS_TYPE = CONTENT_TYPE_PLAIN_0_0_4
METRICS_DOC: dict[int | str, dict[str, Any]] = {200: {
    "description": "Prometheus 文本格式（0.0.4）的指标",
    "content": {METRICS_TYPE: {"schema": {"type": "string"}}},
}}


class Readiness(BaseModel):
    status: str = Field(description="ready 或 not_ready")
    engines: dict[str, str] = Field(default_factory=dict, description="已加载的引擎及其模型版本")
    error: str | None = Field(default=None, description="未就绪的原因")


READY_DOC: dict[int | str, dict[str, Any]] = {503: {"model": Readiness, "description": "没有可用的模型"}}


@router.get("/healthz", operation_id="health-live")
async def healthz() -> dict[str, str]:
    """进程存活。"""
    return {"status": "ok"}


@router.get("/readyz", operation_id="health-ready", response_model=Readiness, responses=READY_DOC)
def readyz(request: Request) -> JSONResponse:
    """至少一个模型已加载并能正常预测时返回 200，否则 503；``engines``：现在应答的模型，``building``：正在训练的模型
    （阶段、百分比、预计剩余秒数）。"""
    state = getattr(request.app.state, "sqmy", None)
    if state is None or not state.router.engines:
        return JSONResponse({"status": "not_ready", "error": "没有已加载的模型", "engines": {}}, status_code=503)
    try:
        engine = state.router.pick(state.settings.ENGINE)
        engine.predict_proba([Doc(text="就绪检查")])
    except Exception as exc:
        return JSONResponse({"status": "not_ready", "error": f"模型无法预测：{exc}"}, status_code=503)
    return JSONResponse({"status": "ready", "engines": {n: e.version for n, e in state.router.engines.items()},
                         "answering": engine.name,
                         "building": building(state.jobs)})


@router.get("/metrics", operation_id="health-metrics", response_class=Response, responses=METRICS_DOC)
def metrics(request: Request) -> Response:
    """Prometheus 文本格式的指标。"""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=METRICS_TYPE)
