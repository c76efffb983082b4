"""The editors' work queue: GET /v1/items (filtered, searched, paged) and GET /v1/items/export (CSV / XLSX)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sqmy.app.queue import QueueFilter, export_items, list_items
from sqmy.app.queue_export import to_csv, to_xlsx
from sqmy.service.api.deps import Editor, StateDep
from sqmy.service.errors import KEYED, ErrorType, SqmyError, error_responses

router = APIRouter(prefix="/v1", tags=["feedback"])
Status = Literal["pending", "needs_review", "accepted", "corrected"]
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

STATUS_HELP = ("pending 待处理（未下结论，含需复核）、needs_review 需复核（未下结论且模型要求复核）、"
               "accepted 已采纳、corrected 已纠正")
SEARCH_HELP = "全文检索：标题或正文须包含的词（空格分隔，须全部包含）"


def queue_filter(
    status: Annotated[Status | None, Query(description=STATUS_HELP)] = None,
    topic: Annotated[str | None, Query(max_length=100, description="最终一级分类")] = None,
    unit: Annotated[str | None, Query(max_length=100, description="最终主办单位")] = None,
    editor: Annotated[str | None, Query(max_length=100, description="下结论的编辑")] = None,
    date_from: Annotated[date | None, Query(alias="from", description="分类日期起（含），如 2026-01-31")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="分类日期止（含）")] = None,
    q: Annotated[str | None, Query(max_length=200, description=SEARCH_HELP)] = None,
) -> QueueFilter:
    if date_from and date_to and date_to < date_from:
        raise SqmyError(ErrorType.validation, "参数 to：结束日期早于开始日期", "to")
    return QueueFilter(
        status=status, topic=topic or None, unit=unit or None, editor=editor or None, q=q or None,
        since=datetime.combine(date_from, time(), UTC) if date_from else None,
        until=datetime.combine(date_to + timedelta(days=1), time(), UTC) if date_to else None)


FilterDep = Annotated[QueueFilter, Depends(queue_filter)]


@router.get("/items", responses=error_responses(*KEYED, 422), operation_id="items-list")
async def get_items(state: StateDep, _principal: Editor, flt: FilterDep,
                    page: int = Query(default=1, ge=1, le=100_000),
                    page_size: int = Query(default=20, ge=1, le=200)) -> dict[str, Any]:
    """编辑的待办列表：每个条目一行（同一文本多次分类算一个条目，显示最近一次），含最终分类与主办单位、
    下结论的编辑与时间；可按状态、分类、单位、日期、编辑筛选，全文检索，分页（新的在前）。日期按 UTC 计。"""
    state.classification_log.flush()
    return await run_in_threadpool(list_items, state.db, flt, page=page, page_size=page_size)


@router.get("/items/export", response_class=Response, operation_id="items-export", responses=error_responses(
    *KEYED, 422) | {200: {"description": "筛选结果（最终标签）", "content": {m: {"schema": {"type": "string",
                                                                                   "format": "binary"}}
                                                                    for m in MEDIA.values()}}})
async def export(state: StateDep, _principal: Editor, flt: FilterDep,
                 format: Literal["csv", "xlsx"] = Query(default="xlsx", description="csv（UTF-8 带 BOM）或 xlsx")
                 ) -> Response:
    """导出筛选后的条目（最终标签；所有单元格为文本，不会被当作公式；电话与身份证号已打码）。"""
    state.classification_log.flush()
    items = await run_in_threadpool(export_items, state.db, flt)
    body = await run_in_threadpool(to_csv if format == "csv" else to_xlsx, items)
    name = f"待办导出-{datetime.now(UTC):%Y%m%d-%H%M%S}.{format}"
    return Response(body, media_type=MEDIA[format], headers={
        "Content-Disposition": f"attachment; filename=\"items.{format}\"; filename*=UTF-8''{quote(name)}"})
