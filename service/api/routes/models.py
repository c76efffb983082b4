"""The model registry over HTTP: list versions, promote (through the gate), roll back, retrain."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.concurrency import run_in_threadpool

from sqmy.app.model_admin import promote_and_audit, rollback_and_audit
from sqmy.core.config import TRAINABLE_ENGINES
from sqmy.models.metadata import read_metadata
from sqmy.service.api.deps import Editor, StateDep, Trainer
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, error_responses
from sqmy.service.responses import JSONResponse
from sqmy.training.compare import Gate

router = APIRouter(prefix="/v1/models", tags=["models"])


def _summary(meta: dict[str, Any], current: dict[str, str | None]) -> dict[str, Any]:
    metrics = {k: {m: v.get(m) for m in ("accuracy", "macro_f1", "ece", "n")}
               for k, v in meta.get("metrics", {}).items() if isinstance(v, dict)}
    return {"version": meta.get("version"), "engine": meta.get("engine"), "created_at": meta.get("created_at"),
            "parent": meta.get("parent"), "current": current.get(meta.get("engine", "")) == meta.get("version"),
            "metrics": metrics, "data": meta.get("data", {}), "train_seconds": meta.get("train_seconds")}


def _metadata(state: Any, version: str) -> dict[str, Any]:
    try:
        return read_metadata(state.registry.path(version))
    except (KeyError, FileNotFoundError) as exc:
        raise SqmyError(ErrorType.not_found, f"模型版本 {version} 不存在", "version") from exc


@router.get("", responses=error_responses(*KEYED), operation_id="models-list")
def list_models(state: StateDep, _principal: Editor) -> dict[str, Any]:
    """全部模型版本（新的在前）及各引擎当前上线的版本。"""
    current = {name: state.registry.current(name) for name in TRAINABLE_ENGINES}
    data = [_summary(meta, current) for meta in state.registry.versions()]
    serving = {name: engine.version for name, engine in state.router.engines.items()}
    return {"current": current, "serving": serving, "data": data, "count": len(data),
            "history": state.registry.history()[-50:]}


@router.get("/{version}", responses=error_responses(*KEYED, 404, 422), operation_id="models-get")
def get_model(version: str, state: StateDep, _principal: Editor) -> dict[str, Any]:
    """一个版本的完整元数据：数据快照、标签集、评估指标（含各类 F1 与混淆矩阵）、上级版本。"""
    meta = _metadata(state, version)
    return meta | {"current": state.registry.current(meta.get("engine", "")) == version}


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: StrictBool = Field(default=False, description="即使比当前模型差也上线")


@router.post("/{version}/promote", responses=error_responses(*KEYED, *BODY, 403, 404, 409),
             operation_id="models-promote")
async def promote_model(version: str, state: StateDep, principal: Trainer,
                        request: PromoteRequest | None = None) -> JSONResponse:
    """与当前模型在同一评估集上比较；未退化（或 force）则上线，服务随即切换到新模型。"""
    await run_in_threadpool(_metadata, state, version)
    force = bool(request and request.force)
    outcome = await run_in_threadpool(
        promote_and_audit, state.registry, state.db, version, gate=Gate.from_settings(state.settings), force=force,
        actor=principal.name, ensemble=state.settings.ENSEMBLE, loaded=list(state.router.engines.values()))
    if not outcome["promoted"]:
        raise SqmyError(ErrorType.conflict, "新模型未通过上线检查：" + "；".join(outcome["report"]["reasons"])
                        + "。如确需上线，请使用 force", "force", extra=outcome)
    outcome["serving"] = await run_in_threadpool(state.watcher.sync)
    return JSONResponse(outcome)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engine: Literal["tfidf", "bert"] = "tfidf"  # TRAINABLE_ENGINES (a Literal for the OpenAPI schema)
    version: str | None = Field(default=None, description="回退到的版本（默认：上一个上线的版本）")


@router.post("/rollback", responses=error_responses(*KEYED, *BODY, 403, 404), operation_id="models-rollback")
async def rollback(request: RollbackRequest, state: StateDep, principal: Trainer) -> JSONResponse:
    """回退到更早的版本（默认上一个上线的版本），不经过上线检查。"""
    try:
        outcome = await run_in_threadpool(rollback_and_audit, state.registry, state.db, request.engine,
                                          request.version, actor=principal.name)
    except LookupError as exc:
        raise SqmyError(ErrorType.not_found, str(exc), "version") from exc
    except ValueError as exc:
        raise SqmyError(ErrorType.validation, f"字段 version：{exc}", "version") from exc
    outcome["serving"] = await run_in_threadpool(state.watcher.sync)
    return JSONResponse(outcome)


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engine: Literal["tfidf", "bert", "all"] = "tfidf"  # TRAINABLE_ENGINES or all
    promote: Literal["auto", "never", "force"] = Field(
        default="auto", description="auto：通过上线检查才上线；never：只训练；force：总是上线")


@router.post("/retrain", status_code=202, responses=error_responses(*KEYED, *BODY, 403, 409),
             operation_id="models-retrain")
def retrain(request: RetrainRequest, state: StateDep, principal: Trainer) -> JSONResponse:
    """用自带语料（或当前模型的训练文件）加全部纠正记录重新训练；后台任务，进度见 /v1/jobs/{id}。"""
    running = state.jobs.active("retrain")
    if running:
        raise SqmyError(ErrorType.conflict, f"已有训练任务 {running[0]['id']} 在进行（同一时间只运行一个）",
                        "engine", extra={"job": running[0]})

    def argv(directory: Any) -> list[str]:
        return ["retrain", "--engine", request.engine, "--promote", request.promote, "--actor", principal.name,
                "--progress-file", str(directory / "progress.json"), "--summary", str(directory / "summary.json")]

    job = state.jobs.submit("retrain", request.model_dump(), argv, principal.name)
    return JSONResponse(job, status_code=202)
