"""Merge groups (并案): create, read, change members and lead, each change with its audit entry in the same
transaction. Items are referred to by their index id (``c-…`` classifications, ``f-…`` verdicts, archive ids)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.storage import MergeGroup, MergeGroupMember, audit, now, transaction

LeadOf = Callable[[str], str | None]  # an item's lead unit (from the index), or None


class GroupError(ValueError):
    """A group change that cannot be made; ``field`` names the offending field, ``status`` the HTTP status."""

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        self.field, self.status = field, status
        super().__init__(message)


def _clean(item_ids: Sequence[Any], field: str) -> list[str]:
    ids = []
    for n, raw in enumerate(item_ids):
        if not isinstance(raw, str) or not raw.strip():
            raise GroupError(f"字段 {field}.{n}：条目编号必须是非空字符串", f"{field}.{n}")
        if raw.strip() not in ids:
            ids.append(raw.strip())
    return ids


def _taken(conn: Connection, item_ids: Sequence[str], group_id: str | None = None) -> None:
    rows = conn.execute(select(MergeGroupMember.item_id, MergeGroupMember.group_id)
                        .where(MergeGroupMember.item_id.in_(item_ids))).all()
    clash = [f"{item}（已在 {group}）" for item, group in rows if group != group_id]
    if clash:
        raise GroupError(f"条目已属于其他并案组：{'、'.join(clash)}", "items", 409)


def create_group(db: DbEngine, item_ids: Sequence[Any], actor: str, *, lead_item: str | None = None,
                 lead_unit: str | None = None, title: str = "", lead_of: LeadOf = lambda _i: None) -> dict[str, Any]:
    """A new group of at least two items; the lead item defaults to the first, the lead unit to its lead."""
    ids = _clean(item_ids, "items")
    if len(ids) < 2:
        raise GroupError("字段 items：并案至少需要两个条目", "items")
    lead_item = lead_item or ids[0]
    if lead_item not in ids:
        raise GroupError(f"字段 lead_item：{lead_item} 不在 items 中", "lead_item")
    group_id, at = f"g-{secrets.token_hex(6)}", now()
    lead_unit = lead_unit or lead_of(lead_item)
    with transaction(db) as conn:
        _taken(conn, ids)
        conn.execute(insert(MergeGroup).values(
            id=group_id, title=title, lead_item=lead_item, lead_unit=lead_unit, created_by=actor, created_at=at,
            updated_at=at))
        conn.execute(insert(MergeGroupMember), [
            {"group_id": group_id, "item_id": i, "added_by": actor, "added_at": at} for i in ids])
        audit(conn, actor, "group.create", group_id, items=ids, lead_item=lead_item, lead_unit=lead_unit)
    return get_group(db, group_id)


def get_group(db: DbEngine, group_id: str) -> dict[str, Any]:
    with db.connect() as conn:
        return _view(conn, group_id)


def _view(conn: Connection, group_id: str) -> dict[str, Any]:
    row = conn.execute(select(MergeGroup).where(MergeGroup.id == group_id)).mappings().first()
    if row is None:
        raise GroupError(f"找不到并案组 {group_id}", "group_id", 404)
    members = conn.execute(select(MergeGroupMember).where(MergeGroupMember.group_id == group_id)
                           .order_by(MergeGroupMember.id)).mappings().all()
    return {"id": row["id"], "title": row["title"], "lead_item": row["lead_item"], "lead_unit": row["lead_unit"],
            "created_by": row["created_by"], "created_at": row["created_at"].isoformat(timespec="seconds"),
            "updated_at": row["updated_at"].isoformat(timespec="seconds"),
            "items": [{"id": m["item_id"], "added_by": m["added_by"],
                       "added_at": m["added_at"].isoformat(timespec="seconds")} for m in members],
            "size": len(members)}


def list_groups(db: DbEngine, limit: int = 50) -> list[dict[str, Any]]:
    with db.connect() as conn:
        ids = conn.execute(select(MergeGroup.id).order_by(MergeGroup.updated_at.desc()).limit(limit)).scalars()
        return [_view(conn, group_id) for group_id in list(ids)]


def add_members(db: DbEngine, group_id: str, item_ids: Sequence[Any], actor: str) -> dict[str, Any]:
    ids = _clean(item_ids, "items")
    if not ids:
        raise GroupError("字段 items：至少提供一个条目", "items")
    with transaction(db) as conn:
        view = _view(conn, group_id)
        _taken(conn, ids, group_id)
        new = [i for i in ids if i not in {m["id"] for m in view["items"]}]
        at = now()
        if new:
            conn.execute(insert(MergeGroupMember), [
                {"group_id": group_id, "item_id": i, "added_by": actor, "added_at": at} for i in new])
        conn.execute(update(MergeGroup).where(MergeGroup.id == group_id).values(updated_at=at))
        audit(conn, actor, "group.add", group_id, items=new)
        return _view(conn, group_id)


def remove_member(db: DbEngine, group_id: str, item_id: str, actor: str) -> dict[str, Any]:
    """Take one item out; the lead item cannot leave while others remain (choose another lead first)."""
    with transaction(db) as conn:
        view = _view(conn, group_id)
        if item_id not in {m["id"] for m in view["items"]}:
            raise GroupError(f"条目 {item_id} 不在并案组 {group_id} 中", "item_id", 404)
        if item_id == view["lead_item"] and view["size"] > 1:
            raise GroupError("不能移出主条目：请先指定另一个主条目（lead_item）", "item_id", 409)
        conn.execute(delete(MergeGroupMember).where(MergeGroupMember.group_id == group_id,
                                                    MergeGroupMember.item_id == item_id))
        conn.execute(update(MergeGroup).where(MergeGroup.id == group_id).values(updated_at=now()))
        audit(conn, actor, "group.remove", group_id, item=item_id)
        return _view(conn, group_id)


def set_lead(db: DbEngine, group_id: str, actor: str, *, lead_item: str | None = None,
             lead_unit: str | None = None, lead_of: LeadOf = lambda _i: None) -> dict[str, Any]:
    """Choose the lead item (its lead unit follows unless ``lead_unit`` is given) or only the lead unit."""
    if lead_item is None and lead_unit is None:
        raise GroupError("字段 lead_item 与 lead_unit 至少提供一个", "lead_item")
    with transaction(db) as conn:
        view = _view(conn, group_id)
        if lead_item is not None and lead_item not in {m["id"] for m in view["items"]}:
            raise GroupError(f"字段 lead_item：{lead_item} 不在并案组中", "lead_item")
        values: dict[str, Any] = {"updated_at": now()}
        if lead_item is not None:
            values |= {"lead_item": lead_item, "lead_unit": lead_unit or lead_of(lead_item) or view["lead_unit"]}
        elif lead_unit is not None:
            values["lead_unit"] = lead_unit
        conn.execute(update(MergeGroup).where(MergeGroup.id == group_id).values(**values))
        audit(conn, actor, "group.lead", group_id, before={"lead_item": view["lead_item"],
              "lead_unit": view["lead_unit"]}, after={k: v for k, v in values.items() if k != "updated_at"})
        return _view(conn, group_id)


def groups_of(db: DbEngine, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``item id → {group_id, lead_item, lead_unit}`` for the given items that are in a group."""
    if not item_ids:
        return {}
    with db.connect() as conn:
        rows = conn.execute(select(MergeGroupMember.item_id, MergeGroup.id, MergeGroup.lead_item,
                                   MergeGroup.lead_unit, MergeGroup.title)
                            .join(MergeGroup, MergeGroup.id == MergeGroupMember.group_id)
                            .where(MergeGroupMember.item_id.in_(list(item_ids)))).all()
    return {r[0]: {"group_id": r[1], "lead_item": r[2], "lead_unit": r[3], "title": r[4]} for r in rows}


def has_groups(db: DbEngine) -> bool:
    with db.connect() as conn:
        return conn.execute(select(MergeGroup.id).limit(1)).first() is not None
