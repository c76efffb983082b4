"""Reclassify a file of items (JSONL or CSV), streaming in chunks: bounded memory, progress, error rows."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from models.base import Doc
from service.routing import Router
from sqmy.io import RecordError, RecordWriter, iter_records

RESULT_FIELDS = ("topic", "topic_path", "topic_confidence", "topic_path_confidence", "topic_candidates",
                 "departments", "department_candidates", "engine", "model_version", "needs_review", "review_reasons")
COLUMN_ALIASES = {
    "id": ("id", "编号", "序号", "留言编号", "工单编号"),
    "title": ("title", "标题", "留言主题", "主题"),
    "text": ("text", "正文", "内容", "留言详情", "诉求内容", "详细内容"),
}


@dataclass
class Columns:
    id: str | None = None
    title: str | None = None
    text: str | None = None

    def resolve(self, record: dict[str, Any]) -> Columns:
        """Explicit names win; otherwise the first known alias present in the record."""
        def pick(name: str) -> str | None:
            explicit = getattr(self, name)
            return explicit or next((a for a in COLUMN_ALIASES[name] if a in record), None)
        return Columns(pick("id"), pick("title"), pick("text"))


@dataclass
class BatchSummary:
    total: int = 0
    classified: int = 0
    errors: int = 0
    needs_review: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    leads: Counter[str] = field(default_factory=Counter)
    engines: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "classified": self.classified, "errors": self.errors,
            "needs_review": self.needs_review,
            "needs_review_share": round(self.needs_review / self.classified, 4) if self.classified else 0.0,
            "topics": dict(self.topics.most_common()), "lead_departments": dict(self.leads.most_common()),
            "engines": dict(self.engines), "seconds": round(self.seconds, 2),
            "items_per_second": round(self.classified / self.seconds, 1) if self.seconds else None,
        }


def errors_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".errors.jsonl")


class Progress:
    """A one-line progress report on stderr (count, rate), at most every ``every`` seconds."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 1.0) -> None:
        self.stream, self.every, self.started, self.last = stream, every, time.perf_counter(), 0.0

    def update(self, done: int, errors: int, final: bool = False) -> None:
        now = time.perf_counter()
        if final or now - self.last >= self.every:
            rate = done / max(now - self.started, 1e-9)
            self.stream.write(f"\r已处理 {done} 条（错误 {errors} 条），{rate:.0f} 条/秒" + ("\n" if final else ""))
            self.stream.flush()
            self.last = now


def _doc(record: dict[str, Any], cols: Columns) -> Doc:
    text = record.get(cols.text) if cols.text else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"字段 {cols.text or 'text'} 缺失或为空")
    title = record.get(cols.title, "") if cols.title else ""
    return Doc(text=text, title=title if isinstance(title, str) else str(title))


def run_batch(
    in_path: Path, out_path: Path, router: Router, *, engine: str = "auto", columns: Columns | None = None,
    chunk_size: int = 256, max_text_chars: int = 20_000, progress: Progress | None = None,
    on_chunk: Callable[[list[dict[str, Any]]], None] | None = None,
) -> BatchSummary:
    """Route every row of ``in_path`` into ``out_path``; rows that cannot be routed go to the errors file."""
    summary, started = BatchSummary(), time.perf_counter()
    columns = columns or Columns()
    resolved: Columns | None = None
    chunk: list[tuple[dict[str, Any], Doc]] = []
    with RecordWriter(out_path) as out, RecordWriter(errors_path(out_path)) as errors:

        def flush() -> None:
            results = router.classify([doc for _, doc in chunk], engine=engine)
            rows = []
            for (record, _), result in zip(chunk, results, strict=True):
                row = {**record, **{k: result[k] for k in RESULT_FIELDS}}
                out.write(row)
                rows.append(row)
                summary.topics[result["topic"]] += 1
                summary.engines[result["engine"]] += 1
                summary.needs_review += result["needs_review"]
                lead = next((d["name"] for d in result["departments"] if d["role"] == "lead"), None)
                if lead:
                    summary.leads[lead] += 1
            summary.classified += len(chunk)
            if on_chunk:
                on_chunk(rows)
            chunk.clear()

        for n, record in enumerate(iter_records(in_path), 1):
            summary.total += 1
            if isinstance(record, RecordError):
                errors.write({"row": record.row, "error": str(record)})
                summary.errors += 1
                continue
            resolved = resolved or columns.resolve(record)
            try:
                doc = _doc(record, resolved)
                if len(doc.text) > max_text_chars:
                    raise ValueError(f"正文 {len(doc.text)} 字，超过上限 {max_text_chars} 字")
            except ValueError as exc:
                errors.write({"row": n, "id": record.get(resolved.id) if resolved.id else None, "error": str(exc)})
                summary.errors += 1
                continue
            chunk.append((record, doc))
            if len(chunk) >= chunk_size:
                flush()
                if progress:
                    progress.update(summary.classified, summary.errors)
        if chunk:
            flush()
    summary.seconds = time.perf_counter() - started
    if progress:
        progress.update(summary.classified, summary.errors, final=True)
    return summary
