"""POST/GET /v1/feedback (staff verdicts) and GET /v1/classifications (recent suggestions)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sqmy.app.feedback import FeedbackError, list_feedback, record_feedback, record_feedback_once
from sqmy.app.queue import QueueFilter, list_items
from sqmy.app.similar.service import index_verdict
from sqmy.service.api.deps import Editor, StateDep
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, error_responses
from sqmy.service.responses import JSONResponse
from sqmy.service.schemas import UnicodeText

router = APIRouter(prefix="/v1", tags=["feedback"])
log = logging.getLogger(__name__)


class DepartmentLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="单位全称、简称或别名")
    role: Literal["lead", "assist"] = Field(description="lead 主办，assist 协办")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "classification_id": "c-3f9a0c1b2d4e5f60", "action": "correct", "topic": "城乡建设/物业管理",
        "departments": [{"name": "市住房和城乡建设局", "role": "lead"}, {"name": "城关街道", "role": "assist"}],
        "note": "小区物业问题，应由住建局主办"}]})

    item_id: str | None = Field(default=None, max_length=200, description="条目编号")
    classification_id: str | None = Field(default=None, max_length=40, description="分类结果中的 classification_id")
    title: UnicodeText | None = Field(default=None, max_length=500)
    text: UnicodeText | None = Field(default=None, max_length=20_000, description="正文（未提供编号时必填）")
    action: Literal["accept", "correct"] = Field(default="correct", description="accept 采纳建议，correct 纠正")
    topic: str | list[str] | None = Field(default=None, description="一级或二级分类名称，或路径如 城乡建设/物业管理")
    departments: list[DepartmentLabel] | None = Field(default=None, description="一个主办单位加任意协办单位")
    editor: str | None = Field(default=None, max_length=100, description="纠正人（默认为密钥名称）")
    note: str = Field(default="", max_length=2000)


IdempotencyKeyHeader = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="可选的客户端幂等键（如 UUID）：网络出错后用同一个键重发同一请求，返回首次保存的结果"
                "（响应头 Idempotency-Replayed: true），不会重复保存；同一个键配不同的请求体返回 422。")]


@router.post("/feedback", status_code=201, responses=error_responses(*KEYED, *BODY), operation_id="feedback-create")
async def create_feedback(request: FeedbackRequest, state: StateDep, principal: Editor,
                          idempotency_key: IdempotencyKeyHeader = None) -> JSONResponse:
    """采纳或纠正一条分类建议；保存后用于下次再训练，并记入审计日志（与反馈在同一事务中写入）。

    每个条目只有一个有效结论：与该条目最新结论完全相同的再次提交（如重复点击“采纳”）不再保存，返回 200 和已有记录
    （duplicate: true）；不同的结论是一次修改，保存为新记录（201），supersedes 指向被取代的记录，旧记录留在审计记录中。
    未给编号的条目按规范化后的标题和正文识别：同一文本重复分类仍是同一条目。"""
    payload = request.model_dump(exclude_none=True)
    if request.departments is not None:
        payload["departments"] = [d.model_dump() for d in request.departments]

    raw = state.settings.STORE_RAW_TEXT or not state.settings.MASK_PII

    def store() -> tuple[dict[str, Any], bool]:
        state.classification_log.flush()  # the suggestion being judged may still be on its way to the database
        if idempotency_key is None:
            return record_feedback(state.db, state.labels, payload, principal.name, raw=raw), False
        return record_feedback_once(state.db, state.labels, payload, principal.name, idempotency_key, raw=raw)

    try:
        row, replayed = await run_in_threadpool(store)
    except FeedbackError as exc:
        raise SqmyError(ErrorType.unknown_label if exc.unknown_label else ErrorType.validation, str(exc),
                        exc.field) from exc
    if replayed:
        return JSONResponse(row, status_code=200 if row.get("duplicate") else 201,
                            headers={"Idempotency-Replayed": "true"})
    if row["duplicate"]:  # the same verdict again: nothing stored, the item's verdict returned (200)
        return JSONResponse(row, status_code=200)
    state.metrics.feedback.labels(row["action"]).inc()
    if state.similar is not None:
        try:
            await run_in_threadpool(index_verdict, state.similar, row)
        except RuntimeError:  # the index is not open (yet): the verdict is stored, only not indexed
            log.warning("verdict %s not indexed: the similarity index is not open", row["id"])
    return JSONResponse(row, status_code=201)


@router.get("/feedback", responses=error_responses(*KEYED, 422), operation_id="feedback-list")
def get_feedback(state: StateDep, _principal: Editor, item_id: str | None = None,
                 limit: int = Query(default=50, ge=1, le=1000)) -> dict[str, Any]:
    """最近的采纳/纠正记录（新的在前），可按条目编号筛选。"""
    rows = list_feedback(state.db, item_id=item_id, limit=limit)
    return {"data": rows, "count": len(rows)}


@router.get("/classifications", responses=error_responses(*KEYED, 422), operation_id="feedback-classifications")
def get_classifications(state: StateDep, _principal: Editor,
                        limit: int = Query(default=20, ge=1, le=500)) -> dict[str, Any]:
    """最近分类的条目及其结论（新的在前）：同一文本多次分类算一个条目；final 为最终分类与主办单位（已纠正的为
    纠正后的值），decided_by / decided_at 为下结论的编辑与时间。完整的筛选与分页见 GET /v1/items。"""
    state.classification_log.flush()
    rows = [recent_row(item) for item in list_items(state.db, QueueFilter(), page_size=limit)["data"]]
    return {"data": rows, "count": len(rows)}


def recent_row(item: dict[str, Any]) -> dict[str, Any]:
    """A queue row in the shape /v1/classifications always had (plus status, final, decided_by, decided_at)."""
    verdict, final = item["verdict"], item["final"]
    feedback = None if verdict is None else {
        "id": verdict["id"], "action": verdict["action"], "topic_path": final["topic_path"], "lead": final["lead"],
        "assists": final["assists"], "editor": verdict["editor"], "created_at": verdict["decided_at"]}
    return {"classification_id": item["classification_id"], "item_id": item["item_id"], "title": item["title"],
            "text": item["text"], "topic_path": item["suggested"]["topic_path"],
            "topic_confidence": item["suggested"]["topic_confidence"], "lead_department": item["suggested"]["lead"],
            "engine": item["engine"], "model_version": item["model_version"], "needs_review": item["needs_review"],
            "created_at": item["created_at"], "feedback": feedback, "status": item["status"], "final": final,
            "decided_by": item["decided_by"], "decided_at": item["decided_at"],
            "times_classified": item["times_classified"]}
