"""Archives into the similarity index and into suggested merge groups: rows of JSONL/CSV/XLSX/Parquet files (an
input archive or the output of ``sqmy batch``) as index entries or cluster items."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqmy.app.archive.readers import iter_items
from sqmy.app.archive.rows import Columns
from sqmy.app.similar.cluster import Item
from sqmy.app.similar.store import Entry

DATE_COLUMNS = ("date", "日期", "created_at", "受理时间", "提交时间", "留言时间", "时间")
BATCH = 1000


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _lead(record: dict[str, Any], cols: Columns) -> str | None:
    departments = record.get("departments")
    if isinstance(departments, list):
        return next((d.get("name") for d in departments if isinstance(d, dict) and d.get("role") == "lead"), None)
    return _text(record.get(cols.lead)).strip() or None if cols.lead else None


def _topic(record: dict[str, Any], cols: Columns) -> str | None:
    path = record.get("topic_path")
    if isinstance(path, list) and path:
        return "/".join(map(str, path))
    if isinstance(path, str) and path.strip():
        return "/".join(p.strip() for p in path.split("/"))
    return _text(record.get(cols.topic)).strip() or None if cols.topic else None


def archive_rows(path: Path, *, sheet: str | None = None) -> Iterator[dict[str, Any]]:
    """``{id, title, text, topic, lead, date}`` per readable row with a text; ids default to ``<file>:<row>``."""
    cols: Columns | None = None
    date_col: str | None = None
    stem = Path(path).stem
    for item in iter_items(Path(path), sheet=sheet):
        record = item.record
        if record is None:
            continue
        if cols is None:
            cols = Columns().resolve(record)
            date_col = next((c for c in DATE_COLUMNS if c in record), None)
        text = _text(record.get(cols.text)) if cols.text else ""
        if not text.strip():
            continue
        raw_id = _text(record.get(cols.id)).strip() if cols.id else ""
        facts = record.get("facts")  # a ``sqmy batch`` output with facts: its places are reused
        yield {"id": raw_id or f"{stem}:{item.row}", "title": _text(record.get(cols.title)) if cols.title else "",
               "text": text, "topic": _topic(record, cols), "lead": _lead(record, cols),
               "date": _text(record.get(date_col))[:10] or None if date_col else None,
               "facts": list(facts) if isinstance(facts, list | tuple) else None}


def archive_entries(path: Path, *, sheet: str | None = None, prefix: str | None = None) -> Iterator[list[Entry]]:
    """Index entries of an archive's rows in batches of ``BATCH``. Archive ids are prefixed (``prefix`` or a short
    hash of the file's full path: two batch jobs' ``result.jsonl`` differ) so that two archives never collide."""
    tag = prefix or "a" + hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    batch: list[Entry] = []
    for row in archive_rows(path, sheet=sheet):
        batch.append(Entry(id=f"{tag}:{row['id']}", text=row["text"], title=row["title"], source=Path(path).name,
                           topic=row["topic"], lead=row["lead"], date=row["date"],
                           extra={"facts": row["facts"]} if row["facts"] is not None else {}))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def archive_items(path: Path, *, sheet: str | None = None) -> list[Item]:
    """The rows of an archive as cluster items."""
    return [Item(r["id"], r["text"], r["title"], r["topic"], r["lead"], r["date"])
            for r in archive_rows(path, sheet=sheet)]
