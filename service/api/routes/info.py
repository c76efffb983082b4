"""Label space and model information: /v1/taxonomy, /v1/departments, /v1/info."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

import sqmy
from sqmy.app.bootstrap import building
from sqmy.service.api.deps import StateDep, require
from sqmy.service.errors import KEYED, error_responses
from sqmy.service.schemas import ServiceInfo

router = APIRouter(prefix="/v1", tags=["info"], dependencies=[Depends(require("editor"))],
                   responses=error_responses(*KEYED))


@router.get("/taxonomy", operation_id="info-taxonomy")
def taxonomy(state: StateDep) -> dict[str, Any]:
    """群众留言三级分类体系。"""
    tree = state.labels.taxonomy.to_dict()
    return {"data": tree, "count": len(tree)}


@router.get("/departments", operation_id="info-departments")
def departments(state: StateDep) -> dict[str, Any]:
    """承办单位名录（含简称、别名、常见主办/协办领域）与镇街。"""
    return state.labels.directory.to_dict()


@router.get("/info", response_model=ServiceInfo, operation_id="info-service")
def info(state: StateDep) -> dict[str, Any]:
    """服务版本、已加载的模型及其指标。"""
    engines = [
        {"engine": name, "model_version": e.version, "created_at": e.metadata_.get("created_at"),
         "topic_labels": len(e.topic_l2_classes_ or e.topic_l1_classes_), "department_labels": len(e.lead_classes_),
         "metrics": {k: {m: v.get(m) for m in ("accuracy", "macro_f1", "ece", "n")}
                     for k, v in e.metadata_.get("metrics", {}).items() if isinstance(v, dict)}}
        for name, e in state.router.engines.items()
    ]
    return {"version": sqmy.__version__, "default_engine": state.settings.ENGINE, "engines": engines,
            "answering": state.router.answering(state.settings.ENGINE),
            "building": building(state.jobs),
            "max_text_chars": state.settings.MAX_TEXT_CHARS, "max_batch_size": state.settings.MAX_BATCH_SIZE}
