"""Similar items, merge groups (并案) and hotspots: POST /v1/similar, /v1/groups…, GET /v1/hotspots."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sqmy.app.similar import groups
from sqmy.app.similar.cluster import hotspots
from sqmy.app.similar.index import SimilarIndex
from sqmy.app.similar.service import NotReadyError, cluster_thresholds, group_hint, period_items
from sqmy.core.pii import mask_pii
from sqmy.service.api.deps import Editor, StateDep, require
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, error_responses
from sqmy.service.schemas import SimilarItem, UnicodeText
from sqmy.service.state import AppState

router = APIRouter(prefix="/v1", tags=["similar"], dependencies=[Depends(require("editor"))])
ERRORS = error_responses(*KEYED, *BODY, 404, 503)


def _index(state: AppState) -> SimilarIndex:
    if state.similar is None:  # not a passing condition: this service was started without the feature
        raise SqmyError(ErrorType.not_found, "相似留言功能未开启（SQMY_SIMILAR=off）")
    try:
        return state.similar.ready()
    except NotReadyError as exc:
        raise SqmyError(ErrorType.not_ready, str(exc)) from exc
    except RuntimeError as exc:
        raise SqmyError(ErrorType.engine, str(exc)) from exc


async def similar_for(state: AppState, text: str, title: str, k: int,
                      exclude: str | None = None) -> list[dict[str, Any]]:
    """The ``k`` most similar stored items (every item classified before is indexed first: ``flush``)."""
    if state.settings.MASK_PII and not state.settings.STORE_RAW_TEXT:  # compared as the items are stored
        text, title = mask_pii(text), mask_pii(title)

    def find() -> list[dict[str, Any]]:
        index = _index(state)
        if state.similar is not None:
            state.similar.flush()
        return _masked(state, index.similar(text, title, k=k, exclude=exclude), ("title", "snippet"))
    return await run_in_threadpool(find)


def _masked(state: AppState, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Phone and ID numbers masked in what is shown of other people's items (SQMY_MASK_PII)."""
    if state.settings.MASK_PII:
        for row in rows:
            for name in fields:
                if isinstance(row.get(name), str):
                    row[name] = mask_pii(row[name])
    return rows


def merge_hint(state: AppState, found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The merge group (and its lead unit) of the best similar item that is in one."""
    return group_hint(found, groups.groups_of(state.db, [f["id"] for f in found]))


class SimilarRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"title": "锦江花园电梯费", "text": "城东街道锦江花园物业要求每户交六百元电梯大修费，不交不给办门禁卡。",
         "k": 5}]})

    id: str | None = Field(default=None, max_length=200, description="已索引条目的编号（与 text 二选一）")
    title: UnicodeText = Field(default="", max_length=500)
    text: UnicodeText | None = Field(default=None, max_length=20_000, description="正文（与 id 二选一）")
    k: int = Field(default=5, ge=1, le=50, description="最多返回条数")


@router.post("/similar", responses=ERRORS, operation_id="similar-find")
async def find_similar(request: SimilarRequest, state: StateDep) -> dict[str, Any]:
    """相似的已存条目（重复件 duplicate 在前，其次同一事项 same_matter），按相似度排序。"""
    title, text = request.title, (request.text or "").strip()
    if request.id:
        item = await run_in_threadpool(_item, state, request.id)
        title, text = item["title"], item["text"]
    elif not text:
        raise SqmyError(ErrorType.validation, "字段 text 缺失或为空（或提供已索引条目的 id）", "text")
    found = await similar_for(state, text, title, request.k, exclude=request.id)
    return {"data": found, "count": len(found)}


def _item(state: AppState, item_id: str) -> dict[str, Any]:
    index = _index(state)
    if state.similar is not None:
        state.similar.flush()
    key = index.store.key_of(item_id)
    if key is None:
        raise SqmyError(ErrorType.not_found, f"找不到已索引的条目 {item_id}", "id")
    row = index.store.rows([key])[key]
    row.pop("sig", None)
    row["places"] = [p.split("|")[0] for p in row["places"].split()]
    return row


@router.get("/similar/items/{item_id}", responses=error_responses(*KEYED, 404, 503),
            operation_id="similar-item")
def get_item(item_id: str, state: StateDep) -> dict[str, Any]:
    """一个已索引条目的全文（并排对照用）。"""
    row = _item(state, item_id)
    row.pop("key", None)
    return _masked(state, [row], ("title", "text"))[0]


class GroupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": ["c-3f9a0c1b2d4e5f60", "c-0a1b2c3d4e5f6a7b"], "lead_item": "c-3f9a0c1b2d4e5f60",
         "title": "锦江花园电梯大修费"}]})

    items: list[str] = Field(min_length=2, max_length=1000, description="并案的条目编号（至少两个）")
    lead_item: str | None = Field(default=None, description="主条目，缺省为第一个")
    lead_unit: str | None = Field(default=None, max_length=100, description="主办单位，缺省为主条目的主办单位")
    title: str = Field(default="", max_length=500)


class MembersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[str] = Field(min_length=1, max_length=1000)


class LeadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_item: str | None = None
    lead_unit: str | None = Field(default=None, max_length=100)


def _lead_of(state: AppState) -> Any:
    def lead(item_id: str) -> str | None:
        if state.similar is None or state.similar.index is None:
            return None
        key = state.similar.index.store.key_of(item_id)
        return state.similar.index.store.rows([key])[key]["lead"] if key is not None else None
    return lead


async def _group_call(work: Any) -> dict[str, Any]:
    try:
        return await run_in_threadpool(work)
    except groups.GroupError as exc:
        kind = {404: ErrorType.not_found, 409: ErrorType.conflict}.get(exc.status, ErrorType.validation)
        raise SqmyError(kind, str(exc), exc.field) from exc


@router.post("/groups", status_code=201, responses=error_responses(*KEYED, *BODY, 409),
             operation_id="groups-create")
async def create_group(request: GroupRequest, state: StateDep, principal: Editor) -> dict[str, Any]:
    """把若干条目并案：保存并记入审计日志；之后与组内条目相似的新条目会建议由本组主办单位办理。"""
    if state.similar is not None:
        await run_in_threadpool(state.similar.flush)
    return await _group_call(lambda: groups.create_group(
        state.db, request.items, principal.name, lead_item=request.lead_item, lead_unit=request.lead_unit,
        title=request.title, lead_of=_lead_of(state)))


@router.get("/groups", responses=error_responses(*KEYED, 422), operation_id="groups-list")
def list_groups(state: StateDep, limit: int = Query(default=50, ge=1, le=500)) -> dict[str, Any]:
    """最近改动的并案组。"""
    rows = groups.list_groups(state.db, limit)
    return {"data": rows, "count": len(rows)}


@router.get("/groups/{group_id}", responses=error_responses(*KEYED, 404), operation_id="groups-get")
async def get_group(group_id: str, state: StateDep) -> dict[str, Any]:
    """一个并案组：主条目、主办单位和全部条目。"""
    return await _group_call(lambda: groups.get_group(state.db, group_id))


@router.post("/groups/{group_id}/items", responses=error_responses(*KEYED, *BODY, 404, 409),
             operation_id="groups-add")
async def add_items(group_id: str, request: MembersRequest, state: StateDep, principal: Editor) -> dict[str, Any]:
    """向并案组加入条目。"""
    return await _group_call(lambda: groups.add_members(state.db, group_id, request.items, principal.name))


@router.delete("/groups/{group_id}/items/{item_id}", responses=error_responses(*KEYED, 404, 409),
               operation_id="groups-remove")
async def remove_item(group_id: str, item_id: str, state: StateDep, principal: Editor) -> dict[str, Any]:
    """从并案组移出一个条目（主条目需先改选）。"""
    return await _group_call(lambda: groups.remove_member(state.db, group_id, item_id, principal.name))


@router.put("/groups/{group_id}/lead", responses=error_responses(*KEYED, *BODY, 404), operation_id="groups-lead")
async def set_lead(group_id: str, request: LeadRequest, state: StateDep, principal: Editor) -> dict[str, Any]:
    """改选主条目（主办单位随之改为其主办单位）或直接指定主办单位。"""
    return await _group_call(lambda: groups.set_lead(state.db, group_id, principal.name, lead_item=request.lead_item,
                                                     lead_unit=request.lead_unit, lead_of=_lead_of(state)))


@router.get("/hotspots", responses=error_responses(*KEYED, 404, 422, 503), operation_id="similar-hotspots")
async def get_hotspots(state: StateDep, from_: Annotated[date | None, Query(alias="from")] = None,
                       to: date | None = None, window: int = Query(default=7, ge=1, le=366),
                       limit: int = Query(default=20, ge=1, le=200)) -> dict[str, Any]:
    """热点问题：一段时间内已存条目聚成的组，按条数和增长（最近 window 天与之前同样天数相比）排序。"""
    if from_ and to and from_ > to:
        raise SqmyError(ErrorType.validation, "参数 from 不能晚于 to", "from")

    def compute() -> list[dict[str, Any]]:
        index = _index(state)
        if state.similar is not None:
            state.similar.flush()
        items = period_items(index, from_.isoformat() if from_ else None, to.isoformat() if to else None)
        return hotspots(items, index.projection, cluster_thresholds(state.settings), end=to, window_days=window,
                        limit=limit)
    rows = await run_in_threadpool(compute)
    return {"data": rows, "count": len(rows), "from": from_, "to": to, "window_days": window}


__all__ = ["SimilarItem", "merge_hint", "router", "similar_for"]
