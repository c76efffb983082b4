"""The editors' work queue: one row per item (the newest classification of it) with its final labels and who
decided them, filtered, searched and paged; and the same list as rows for an export.

An item is what ``storage.item_key`` names: the client's id, else the normalised title and text, so the same text
classified twice is one item, and a verdict on either classification decides it. Status:

* ``pending`` (待处理): no verdict yet (``needs_review`` ones included);
* ``needs_review`` (需复核): no verdict yet and the model asked for a review;
* ``accepted`` (已采纳) / ``corrected`` (已纠正): the item's newest verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal_column, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as DbEngine
from sqlalchemy.sql.elements import ColumnElement

from sqmy.app.storage import SEARCH_TABLE, Classification, Feedback, has_search_index

STATUSES = ("pending", "needs_review", "accepted", "corrected")
STATUS_NAMES = {"pending": "待处理", "needs_review": "需复核", "accepted": "已采纳", "corrected": "已纠正"}
EXPORT_MAX_ROWS = 100_000
TRIGRAM = 3  # FTS5's trigram tokenizer matches substrings of at least three characters


@dataclass(frozen=True)
class QueueFilter:
    """What the editor asked for; every field optional."""

    status: str | None = None
    topic: str | None = None  # final level-1 topic
    unit: str | None = None  # final lead unit
    editor: str | None = None  # who decided
    since: datetime | None = None  # classified at or after
    until: datetime | None = None  # classified before
    q: str | None = None  # words that must all occur in the title or text


def _base(conn: Connection, flt: QueueFilter) -> tuple[Select[Any], dict[str, Any]]:
    """The filtered item rows: each item's newest classification (no newer one with the same ``item_key``) joined
    to the item's newest verdict. Correlated lookups on the indexed ``item_key`` / ``feedback.item_id``, so that a
    page ordered by id stops after its rows instead of grouping the whole table."""
    c, f = Classification.__table__.alias("c"), Feedback.__table__.alias("f")
    newer, same = Classification.__table__.alias("newer"), Classification.__table__.alias("same")
    f2 = Feedback.__table__.alias("f2")
    key = func.coalesce(c.c.item_key, c.c.uid)
    newest = or_(c.c.item_key.is_(None),
                 ~exists().where(newer.c.item_key == c.c.item_key, newer.c.id > c.c.id))
    verdict_id = select(func.max(f2.c.id)).where(f2.c.item_id == key).scalar_subquery()
    times = case((c.c.item_key.is_(None), 1),
                 else_=select(func.count()).where(same.c.item_key == c.c.item_key).scalar_subquery())
    status = case((f.c.action == "accept", "accepted"), (f.c.action == "correct", "corrected"), else_="pending")
    final_topic = case((f.c.id.is_not(None), f.c.topic_path[0].as_string()), else_=c.c.topic)
    final_lead = case((f.c.id.is_not(None), f.c.lead), else_=c.c.lead_department)
    cols = {"c": c, "f": f, "status": status, "final_topic": final_topic, "final_lead": final_lead}
    query = (select(c, f.c.id.label("f_id"), f.c.action.label("f_action"), f.c.topic_path.label("f_topic_path"),
                    f.c.lead.label("f_lead"), f.c.assists.label("f_assists"), f.c.editor.label("f_editor"),
                    f.c.note.label("f_note"), f.c.created_at.label("f_created_at"),
                    f.c.supersedes.label("f_supersedes"), times.label("times"), status.label("status"))
             .select_from(c.outerjoin(f, f.c.id == verdict_id))
             .where(newest))
    for condition in _conditions(conn, flt, cols):
        query = query.where(condition)
    return query, cols


def _conditions(conn: Connection, flt: QueueFilter, cols: dict[str, Any]) -> list[ColumnElement[bool]]:
    c, f = cols["c"], cols["f"]
    out: list[ColumnElement[bool]] = []
    if flt.status in ("pending", "needs_review"):
        out.append(f.c.id.is_(None))
        if flt.status == "needs_review":
            out.append(c.c.needs_review.is_(True))
    elif flt.status in ("accepted", "corrected"):
        out.append(cols["status"] == flt.status)
    if flt.topic:
        out.append(cols["final_topic"] == flt.topic)
    if flt.unit:
        out.append(cols["final_lead"] == flt.unit)
    if flt.editor:
        out.append(f.c.editor == flt.editor)
    if flt.since:
        out.append(c.c.created_at >= flt.since)
    if flt.until:
        out.append(c.c.created_at < flt.until)
    if flt.q and flt.q.strip():
        out.append(_search(conn, flt.q, c))
    return out


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search(conn: Connection, q: str, c: Any) -> ColumnElement[bool]:
    """Every word of ``q`` in the title or text: through the FTS5 trigram index on SQLite (words of three or more
    characters), LIKE otherwise (shorter words, PostgreSQL)."""
    terms = q.split()
    indexed = [t for t in terms if len(t) >= TRIGRAM] if has_search_index(conn) else []
    parts: list[ColumnElement[bool]] = [
        or_(c.c.title.like(_like(t), escape="\\"), c.c.text.like(_like(t), escape="\\"))
        for t in terms if t not in indexed]
    if indexed:
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in indexed)
        parts.append(c.c.id.in_(select(literal_column("rowid")).select_from(text(SEARCH_TABLE))
                                .where(text(f"{SEARCH_TABLE} MATCH :match")).params(match=match)))
    return and_(*parts)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _view(r: dict[str, Any]) -> dict[str, Any]:
    """One queue row: the suggestion, the status, the final labels and who decided them when."""
    decided = r["f_id"] is not None
    assists = [d["name"] for d in (r["result"] or {}).get("departments", []) if d.get("role") == "assist"]
    final = ({"topic_path": r["f_topic_path"], "lead": r["f_lead"], "assists": r["f_assists"] or []} if decided
             else {"topic_path": r["topic_path"], "lead": r["lead_department"], "assists": assists})
    return {
        "classification_id": r["uid"], "item_id": r["item_id"], "item_key": r["item_key"] or r["uid"],
        "title": r["title"], "text": r["text"], "status": r["status"] if decided else (
            "needs_review" if r["needs_review"] else "pending"),
        "suggested": {"topic_path": r["topic_path"], "lead": r["lead_department"], "assists": assists,
                      "topic_confidence": r["topic_confidence"]},
        "final": final, "needs_review": r["needs_review"], "engine": r["engine"], "model_version": r["model_version"],
        "times_classified": r["times"], "created_at": _iso(r["created_at"]),
        "verdict": {"id": r["f_id"], "action": r["f_action"], "editor": r["f_editor"], "note": r["f_note"],
                    "decided_at": _iso(r["f_created_at"]), "supersedes": r["f_supersedes"]} if decided else None,
        "decided_by": r["f_editor"], "decided_at": _iso(r["f_created_at"]),
    }


def list_items(db: DbEngine, flt: QueueFilter, *, page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """One page of the queue (newest first) and the number of items that match."""
    with db.connect() as conn:
        query, cols = _base(conn, flt)
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = conn.execute(query.order_by(cols["c"].c.id.desc()).limit(page_size)
                            .offset((page - 1) * page_size)).mappings().all()
    return {"data": [_view(dict(r)) for r in rows], "total": total, "page": page, "page_size": page_size,
            "pages": (total + page_size - 1) // page_size}


def export_items(db: DbEngine, flt: QueueFilter, limit: int = EXPORT_MAX_ROWS) -> list[dict[str, Any]]:
    """Every matching item (newest first, at most ``limit``) as queue rows."""
    with db.connect() as conn:
        query, cols = _base(conn, flt)
        rows = conn.execute(query.order_by(cols["c"].c.id.desc()).limit(limit)).mappings().all()
    return [_view(dict(r)) for r in rows]
