"""Staff verdicts on suggestions: store them (with an audit trail), list them, import them in bulk, and turn the
newest verdict per item into training data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as DbEngine
from sqlalchemy.exc import IntegrityError

from sqmy.app.storage import Classification, Feedback, IdempotencyKey, audit, item_key, now, transaction
from sqmy.core.io import RecordError, iter_records
from sqmy.core.labels import LabelSpace, UnknownLabelError
from sqmy.core.pii import mask_pii
from sqmy.training.data import LabeledItem, split_names


class FeedbackError(ValueError):
    """A verdict that cannot be stored; ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None, *, unknown_label: bool = False) -> None:
        self.field, self.unknown_label = field, unknown_label
        super().__init__(message)


def _text_id(title: str, text: str) -> str:
    """An item without an id is known by its normalised title and text (the key its classifications carry)."""
    return item_key(None, title, text)


def _lookup_classification(conn: Connection, classification_id: str | None,
                           item_id: str | None) -> dict[str, Any] | None:
    """The stored classification a verdict refers to (by its id, else the newest one of the item)."""
    query = select(Classification)
    if classification_id:
        query = query.where(Classification.uid == classification_id)
    elif item_id:
        query = query.where(Classification.item_id == item_id).order_by(Classification.id.desc()).limit(1)
    else:
        return None
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def latest_feedback(conn: Connection, item_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(Feedback).where(Feedback.item_id == item_id)
                       .order_by(Feedback.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def _labels_of(result: dict[str, Any]) -> tuple[list[str] | None, str | None, list[str]]:
    departments = result.get("departments") or []
    lead = next((d["name"] for d in departments if d.get("role") == "lead"), None)
    return result.get("topic_path"), lead, [d["name"] for d in departments if d.get("role") == "assist"]


def _check_departments(departments: Any, labels: LabelSpace) -> tuple[str | None, list[str] | None]:
    if departments is None:
        return None, None
    if not isinstance(departments, list):
        raise FeedbackError("字段 departments 必须是数组，如 [{\"name\": \"市住房和城乡建设局\", \"role\": \"lead\"}]",
                            "departments")
    lead, assists = None, []
    for n, entry in enumerate(departments):
        field = f"departments.{n}"
        name = entry.get("name") if isinstance(entry, dict) else entry
        role = entry.get("role", "assist" if n else "lead") if isinstance(entry, dict) else ("assist" if n else "lead")
        if not isinstance(name, str) or not name.strip():
            raise FeedbackError(f"字段 {field}.name 缺失或为空", f"{field}.name")
        if role not in ("lead", "assist"):
            raise FeedbackError(f"字段 {field}.role 只能是 lead（主办）或 assist（协办）", f"{field}.role")
        try:
            canonical = labels.directory.resolve(name, lead=role == "lead")
        except UnknownLabelError as exc:
            raise FeedbackError(f"字段 {field}.name：{exc}", f"{field}.name", unknown_label=True) from exc
        if role == "lead":
            if lead is not None:
                raise FeedbackError(f"字段 {field}.role：只能有一个主办单位", f"{field}.role")
            lead = canonical
        elif canonical not in assists:
            assists.append(canonical)
    if departments and lead is None:
        raise FeedbackError("字段 departments：需要指定一个主办单位（role 为 lead）", "departments")
    return lead, [a for a in assists if a != lead]


def record_feedback(db: DbEngine, labels: LabelSpace, payload: dict[str, Any], actor: str,
                    source: str = "api", *, raw: bool = False) -> dict[str, Any]:
    """Validate and store one verdict with its audit entry (one transaction); return the stored row. ``accept``
    without labels takes the suggestion. The item's title and text are stored with phone and ID numbers masked
    unless ``raw`` (SQMY_STORE_RAW_TEXT)."""
    with transaction(db) as conn:
        return _store(conn, labels, payload, actor, source, raw)


def record_feedback_once(db: DbEngine, labels: LabelSpace, payload: dict[str, Any], actor: str,
                         key: str, *, raw: bool = False) -> tuple[dict[str, Any], bool]:
    """``record_feedback`` under a client's idempotency key: ``(row, replayed)``. The first request under a key
    stores the verdict; a repeat with the same payload returns that row (``replayed``) and stores nothing; a
    different payload under a used key is an error. Keys are per actor (API key name)."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    for attempt in range(2):  # PostgreSQL: a concurrent first use of the key loses the unique race, then replays
        try:
            with transaction(db) as conn:
                first = conn.execute(select(IdempotencyKey).where(IdempotencyKey.actor == actor,
                                                                  IdempotencyKey.key == key)).mappings().first()
                if first is not None:
                    if first["request_hash"] != digest:
                        raise FeedbackError("请求头 Idempotency-Key：该键已用于另一条内容不同的反馈；"
                                            "重发时请求体须与首次完全相同，新的反馈请换一个新键", "Idempotency-Key")
                    return first["response"], True
                stored = _store(conn, labels, payload, actor, "api", raw)
                conn.execute(insert(IdempotencyKey).values(actor=actor, key=key, request_hash=digest,
                                                           feedback_id=stored["id"], response=stored, created_at=now()))
                return stored, False
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _store(conn: Connection, labels: LabelSpace, payload: dict[str, Any], actor: str,
           source: str, raw: bool = False) -> dict[str, Any]:
    """Validate one verdict and insert it with its audit entry on ``conn`` (the caller's write transaction)."""
    action = payload.get("action") or "correct"
    if action not in ("accept", "correct"):
        raise FeedbackError("字段 action 只能是 accept（采纳）或 correct（纠正）", "action")
    item_id = payload.get("item_id") or payload.get("id")
    item_id = str(item_id).strip() if item_id not in (None, "") else None
    classification_id = payload.get("classification_id") or None
    stored = _lookup_classification(conn, classification_id, item_id)
    if classification_id and stored is None:
        raise FeedbackError(f"字段 classification_id：找不到分类记录 {classification_id}", "classification_id")
    title, text = _item_text(payload, stored)
    item_id = item_id or (stored or {}).get("item_key") or (stored or {}).get("item_id") or _text_id(title, text)
    before = _labels_before(conn, item_id, stored)
    topic_path, lead, assists = _verdict_labels(payload, action, before, labels)
    editor = str(payload.get("editor") or actor).strip()[:100] or actor
    note = payload.get("note") or ""
    if not isinstance(note, str):
        raise FeedbackError("字段 note 必须是字符串", "note")
    if not raw:
        title, text, note = mask_pii(title), mask_pii(text), mask_pii(note)
    previous = latest_feedback(conn, item_id[:200])
    if previous is not None and _same_verdict(previous, action, topic_path, lead, assists, note):
        return feedback_view(previous) | {"duplicate": True}  # one verdict per item: a repeat stores nothing
    row = {"item_id": item_id[:200], "classification_id": (stored or {}).get("uid"), "title": title, "text": text,
           "action": action, "topic_path": topic_path, "lead": lead, "assists": assists, "previous": before,
           "editor": editor, "note": note, "source": source, "created_at": now(),
           "supersedes": previous["id"] if previous else None}
    inserted = conn.execute(insert(Feedback).values(**row)).inserted_primary_key
    assert inserted is not None
    row["id"] = inserted[0]
    audit(conn, actor, f"feedback.{action}", item_id, feedback_id=row["id"], before=before,
          after={"topic_path": topic_path, "lead": lead, "assists": assists}, editor=editor,
          supersedes=row["supersedes"])
    return feedback_view(row) | {"duplicate": False}


def _same_verdict(previous: dict[str, Any], action: str, topic_path: list[str] | None, lead: str | None,
                  assists: list[str] | None, note: str) -> bool:
    """Whether a new verdict repeats the item's newest one (same action, labels and note, or no note)."""
    return (previous["action"] == action and previous["topic_path"] == topic_path and previous["lead"] == lead
            and (previous["assists"] or []) == (assists or []) and (not note or note == previous["note"]))


def _item_text(payload: dict[str, Any], stored: dict[str, Any] | None) -> tuple[str, str]:
    """``(title, text)`` of the verdict's item: from the payload, or from the classification it refers to."""
    text = payload.get("text")
    title = payload.get("title") or ""
    if text is not None and not isinstance(text, str):
        raise FeedbackError("字段 text 必须是字符串", "text")
    if not isinstance(title, str):
        raise FeedbackError("字段 title 必须是字符串", "title")
    if not (text or "").strip():
        if stored is None:
            raise FeedbackError("字段 text 缺失或为空（或提供已分类条目的 classification_id / item_id）", "text")
        text, title = stored["text"], title or stored["title"]
    return title.strip(), str(text).strip()


def _labels_before(conn: Connection, item_id: str, stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The item's labels before this verdict: its newest verdict, else the stored suggestion, else none."""
    previous = latest_feedback(conn, item_id)
    if previous:
        return {"topic_path": previous["topic_path"], "lead": previous["lead"], "assists": previous["assists"],
                "source": "feedback", "feedback_id": previous["id"]}
    if stored is None:
        return None
    topic_path, lead, assists = _labels_of(stored["result"])
    return {"topic_path": topic_path, "lead": lead, "assists": assists, "source": stored["engine"],
            "model_version": stored["model_version"]}


def _verdict_labels(payload: dict[str, Any], action: str, before: dict[str, Any] | None,
                    labels: LabelSpace) -> tuple[list[str] | None, str | None, list[str] | None]:
    """``(topic_path, lead, assists)`` of the verdict, validated against the label space."""
    topic = payload.get("topic", payload.get("topic_path"))
    departments = payload.get("departments")
    if action == "accept" and topic is None and departments is None:
        if before is None:
            raise FeedbackError("采纳需要 classification_id 或 item_id 指向一条已分类记录，或直接给出 topic",
                                "classification_id")
        topic = before["topic_path"]
        if before.get("lead"):
            departments = [{"name": before["lead"], "role": "lead"}] + [
                {"name": a, "role": "assist"} for a in before.get("assists") or []]
    if topic is None and departments is None:
        raise FeedbackError("字段 topic 与 departments 至少提供一个", "topic")
    topic_path = None
    if topic is not None:
        if not isinstance(topic, str | list) or not topic:
            raise FeedbackError("字段 topic 必须是分类名称或路径（如 \"城乡建设/物业管理\"）", "topic")
        try:
            l1, l2, l3 = labels.taxonomy.resolve_leaf(topic)
        except UnknownLabelError as exc:
            raise FeedbackError(f"字段 topic：{exc}", "topic", unknown_label=True) from exc
        topic_path = [p for p in (l1, l2, l3) if p]
    lead, assists = _check_departments(departments, labels)
    return topic_path, lead, assists


def feedback_view(row: dict[str, Any]) -> dict[str, Any]:
    departments = ([{"name": row["lead"], "role": "lead"}] if row["lead"] else []) + [
        {"name": a, "role": "assist"} for a in row["assists"] or []]
    return {
        "id": row["id"], "item_id": row["item_id"], "classification_id": row["classification_id"],
        "action": row["action"], "title": row["title"], "text": row["text"],
        "topic": row["topic_path"][0] if row["topic_path"] else None, "topic_path": row["topic_path"],
        "departments": departments, "previous": row["previous"], "editor": row["editor"], "note": row["note"],
        "source": row["source"], "created_at": row["created_at"].isoformat(timespec="seconds"),
        "supersedes": row.get("supersedes"),
    }


def list_feedback(db: DbEngine, *, item_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    query = select(Feedback).order_by(Feedback.id.desc()).limit(limit)
    if item_id:
        query = query.where(Feedback.item_id == item_id)
    with db.connect() as conn:
        return [feedback_view(dict(r)) for r in conn.execute(query).mappings()]


def import_feedback(db: DbEngine, labels: LabelSpace, path: Path, actor: str, *, raw: bool = False) -> dict[str, Any]:
    """Store every valid row of a CSV/JSONL file of corrections; bad rows are reported and skipped."""
    stored, errors = 0, []
    for n, record in enumerate(iter_records(Path(path)), 1):
        if isinstance(record, RecordError):
            errors.append({"row": record.row, "error": str(record)})
            continue
        payload = _import_payload(record)
        try:
            record_feedback(db, labels, payload, actor, source="import", raw=raw)
            stored += 1
        except FeedbackError as exc:
            errors.append({"row": n, "id": payload.get("item_id"), "field": exc.field, "error": str(exc)})
    audit(db, actor, "feedback.import", str(path), stored=stored, errors=len(errors))
    return {"file": str(path), "stored": stored, "errors": errors, "error_count": len(errors)}


def _import_payload(record: dict[str, Any]) -> dict[str, Any]:
    """A file row (JSONL or CSV with English or Chinese headers) → a feedback payload."""
    def first(*keys: str) -> Any:
        return next((record[k] for k in keys if record.get(k) not in (None, "")), None)

    payload: dict[str, Any] = {
        "item_id": first("item_id", "id", "编号"), "title": first("title", "标题"),
        "text": first("text", "正文", "内容"), "editor": first("editor", "纠正人"), "note": first("note", "备注"),
        "topic": first("topic_path", "topic", "分类"), "departments": first("departments"),
    }
    if isinstance(payload["topic"], str) and "/" not in payload["topic"]:
        level2 = first("topic_l2", "二级分类")
        if level2:
            payload["topic"] = f"{payload['topic']}/{level2}"
    lead = first("lead", "主办单位")
    if payload["departments"] is None and lead:
        assists = first("assist", "assists", "协办单位") or []
        if isinstance(assists, str):
            assists = split_names(assists)
        payload["departments"] = [{"name": lead, "role": "lead"}] + [{"name": a, "role": "assist"} for a in assists]
    return {k: v for k, v in payload.items() if v is not None}


def corrections(db: DbEngine, labels: LabelSpace) -> list[LabeledItem]:
    """The newest verdict per item as a training item (labels re-checked against the current label space;
    a verdict whose label has since left the taxonomy/directory is skipped)."""
    with db.connect() as conn:
        rows = conn.execute(select(Feedback).order_by(Feedback.id)).mappings().all()
    newest = {row["item_id"]: row for row in rows}
    items = []
    for row in newest.values():
        try:
            l1, l2, l3 = labels.taxonomy.resolve_leaf(row["topic_path"]) if row["topic_path"] else (None, None, None)
            lead = labels.directory.resolve(row["lead"], lead=True) if row["lead"] else None
            assists = tuple(labels.directory.resolve(a) for a in row["assists"] or []) if lead else None
        except UnknownLabelError:
            continue
        items.append(LabeledItem(id=row["item_id"], title=row["title"], text=row["text"], topic_l1=l1,
                                 topic_l2=f"{l1}/{l2}" if l2 else None, topic_l3=f"{l1}/{l2}/{l3}" if l3 else None,
                                 lead=lead, assists=assists))
    return items
