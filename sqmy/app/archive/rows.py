"""From input rows to output bytes: column resolution, validation, the archive's own labels, flattening.

:func:`process_chunk` is the unit of work of every backend (in-process, worker processes, Ray actors): it takes a
chunk of :class:`~sqmy.app.archive.readers.Item` and returns the encoded output lines, error lines and the counts
the summary needs, so the writing process only appends bytes.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sqmy.app.archive.readers import Item
from sqmy.core.cells import csv_safe
from sqmy.core.pii import mask_values

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # models.base imports scikit-learn: only processes that classify need it
    from sqmy.models.base import Doc

RESULT_FIELDS = ("topic", "topic_path", "topic_confidence", "topic_path_confidence", "topic_candidates",
                 "departments", "department_candidates", "engine", "model_version", "needs_review", "review_reasons")
FLAT_FIELDS = ("topic", "topic_path", "topic_confidence", "lead", "assists", "engine", "model_version",
               "needs_review")
FACT_FIELDS = {"full": ("facts",), "flat": ("places", "contacts")}  # with facts: JSONL/Parquet, CSV/XLSX
COLUMN_ALIASES = {
    "id": ("id", "编号", "序号", "留言编号", "工单编号"),
    "title": ("title", "标题", "留言主题", "主题"),
    "text": ("text", "正文", "内容", "留言详情", "诉求内容", "详细内容"),
    "topic": ("topic", "一级分类", "分类", "问题分类", "topic_l1"),
    "lead": ("lead", "主办单位", "承办单位", "lead_department"),
}
# the flat (CSV/XLSX) prediction columns for people (``zh``): Chinese names; the JSONL/Parquet contract is unchanged
FLAT_ZH = {"topic": "预测分类", "topic_path": "预测分类路径", "topic_confidence": "分类置信度", "lead": "预测主办单位",
           "assists": "预测协办单位", "engine": "引擎", "model_version": "模型版本", "needs_review": "需复核",
           "changed": "与原标签不同", "places": "地点", "contacts": "联系方式"}
PRED_PREFIX = "pred_"  # a prediction field whose name the archive already uses gets this prefix

Classify = Callable[[list["Doc"]], list[dict[str, Any]]]


@dataclass
class Columns:
    """Which input columns hold the id, title, text and the archive's own labels (topic, lead unit)."""

    id: str | None = None
    title: str | None = None
    text: str | None = None
    topic: str | None = None
    lead: str | None = None

    def resolve(self, record: dict[str, Any]) -> Columns:
        """Explicit names win; otherwise the first known alias present in the record."""
        def pick(name: str) -> str | None:
            explicit = getattr(self, name)
            return explicit or next((a for a in COLUMN_ALIASES[name] if a in record), None)
        return Columns(*(pick(name) for name in COLUMN_ALIASES))


@dataclass
class Layout:
    """Everything fixed for a run once the first record is seen; stored in the checkpoint for ``--resume``."""

    columns: Columns
    kind: str  # "full" (JSONL/Parquet: every result field) or "flat" (CSV/XLSX: one cell per field)
    names: dict[str, str]  # prediction field → output column name
    labelled: bool  # the archive has a topic or lead column → a ``changed`` column
    encoding: str = "jsonl"  # how output lines are encoded: "jsonl" or "csv"
    fieldnames: list[str] = field(default_factory=list)  # CSV header (encoding "csv")
    max_text_chars: int = 20_000
    zh: bool = False  # flat output for people: FLAT_ZH column names, 是/否 for yes/no, CSV with a BOM
    facts: bool = False  # the results carry facts: a ``facts`` field, or ``places`` and ``contacts`` columns
    mask_pii: bool = True  # the input's own cells are written with phone and ID numbers masked

    @classmethod
    def build(cls, first: dict[str, Any], columns: Columns, *, kind: str, encoding: str,
              max_text_chars: int = 20_000, zh: bool = False, facts: bool = False, mask_pii: bool = True) -> Layout:
        cols = columns.resolve(first)
        zh = zh and kind == "flat"
        fields = (FLAT_FIELDS if kind == "flat" else RESULT_FIELDS) + (FACT_FIELDS[kind] if facts else ()) + (
            "changed",)
        labelled = bool(cols.topic or cols.lead)
        shown = {f: FLAT_ZH.get(f, f) if zh else f for f in fields}
        names = {f: (PRED_PREFIX + shown[f] if shown[f] in first else shown[f])
                 for f in fields if f != "changed" or labelled}
        fieldnames = list(first) + list(names.values()) if encoding == "csv" else []
        return cls(cols, kind, names, labelled, encoding, fieldnames, max_text_chars, zh, facts, mask_pii)

    def yes_no(self, value: bool | None) -> bool | str | None:
        """A yes/no cell: 是/否 for people (``zh``), else the boolean."""
        return ("是" if value else "否") if self.zh and value is not None else value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        return cls(**{**data, "columns": Columns(**data["columns"])})


@dataclass
class ChunkResult:
    """What one chunk produced: encoded lines and the counts for the summary."""

    consumed: int = 0
    out: bytes = b""
    errors: bytes = b""
    classified: int = 0
    failed: int = 0
    needs_review: int = 0
    labelled: int = 0
    changed: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    leads: Counter[str] = field(default_factory=Counter)
    engines: Counter[str] = field(default_factory=Counter)


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def to_doc(record: dict[str, Any], layout: Layout) -> Doc:
    """The document of a record; ``ValueError`` (in Chinese) when its text is missing, empty or too long."""
    from sqmy.models.base import Doc

    cols = layout.columns
    text = _text(record.get(cols.text)) if cols.text else ""
    if not text.strip():
        raise ValueError(f"字段 {cols.text or 'text'} 缺失或为空")
    if len(text) > layout.max_text_chars:
        raise ValueError(f"正文 {len(text)} 字，超过上限 {layout.max_text_chars} 字")
    return Doc(text=text, title=_text(record.get(cols.title)) if cols.title else "")


def archive_topic(value: Any) -> str | None:
    """The level-1 topic of an archive label: ``城乡建设``, ``城乡建设/市政`` and ``城乡建设 / 市政`` all count."""
    text = _text(value).strip()
    return text.split("/")[0].strip() or None if text else None


def is_changed(record: dict[str, Any], result: dict[str, Any], lead: str | None, layout: Layout,
               resolve_unit: Callable[[str], str]) -> bool | None:
    """Whether the prediction differs from the archive's topic or lead unit; ``None`` when the row has neither."""
    cols, differs, seen = layout.columns, False, False
    if cols.topic and (label := archive_topic(record.get(cols.topic))):
        seen, differs = True, label != result["topic"]
    if cols.lead and (unit := _text(record.get(cols.lead)).strip()):
        seen, differs = True, differs or resolve_unit(unit) != lead
    return differs if seen else None


def _fact_fields(result: dict[str, Any], kind: str) -> dict[str, Any]:
    """``facts`` as it is (JSONL/Parquet), or ``places`` and ``contacts`` (phone and ID numbers, masked unless
    SQMY_MASK_PII is off) as text cells (CSV/XLSX)."""
    facts = result.get("facts") or []
    if kind == "full":
        return {"facts": facts}
    return {"places": "、".join(dict.fromkeys(f["text"] for f in facts if f["kind"] == "place")),
            "contacts": "、".join(dict.fromkeys(f["text"] for f in facts if f["kind"] in ("phone", "id_number")))}


def prediction_fields(result: dict[str, Any], lead: str | None, layout: Layout) -> dict[str, Any]:
    if layout.kind == "full":
        values = {f: result[f] for f in RESULT_FIELDS}
    else:
        values = {"topic": result["topic"], "topic_path": " / ".join(result["topic_path"]),
                  "topic_confidence": result["topic_confidence"], "lead": lead,
                  "assists": "、".join(d["name"] for d in result["departments"] if d["role"] == "assist"),
                  "engine": result["engine"], "model_version": result["model_version"],
                  "needs_review": layout.yes_no(result["needs_review"])}
    if layout.facts:
        values |= _fact_fields(result, layout.kind)
    return {layout.names[k]: v for k, v in values.items()}


def _cell(value: Any) -> Any:
    """A CSV cell: nested values as JSON, text never read as a formula."""
    if isinstance(value, list | dict):
        value = orjson.dumps(value, default=str).decode()
    return csv_safe(value) if isinstance(value, str) else value


class LineEncoder:
    """Encodes output rows as JSONL or CSV lines (UTF-8)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._buffer = io.StringIO()
        self._csv = csv.DictWriter(self._buffer, fieldnames=layout.fieldnames, extrasaction="ignore") \
            if layout.encoding == "csv" else None

    def header(self) -> bytes:
        if self._csv is None:
            return b""
        self._csv.writerow({name: csv_safe(name) for name in self.layout.fieldnames})  # column names are input too
        header = self._take()
        return "\ufeff".encode() + header if self.layout.zh else header

    def encode(self, rows: Sequence[dict[str, Any]]) -> bytes:
        if self._csv is None:
            return b"".join(orjson.dumps(row, default=str) + b"\n" for row in rows)
        self._csv.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")


def process_chunk(items: Sequence[Item], layout: Layout, classify: Classify,
                  resolve_unit: Callable[[str], str] = lambda name: name) -> ChunkResult:
    """Validate, classify and encode one chunk; a row that cannot be routed becomes an error line."""
    result, errors = ChunkResult(consumed=len(items)), []
    good: list[tuple[Item, Doc]] = []
    for item in items:
        if item.record is None:
            errors.append({"row": item.row, "id": None, "error": item.error})
            continue
        try:
            good.append((item, to_doc(item.record, layout)))
        except ValueError as exc:
            errors.append({"row": item.row, "id": _id(item.record, layout), "error": str(exc)})
    predictions = _classify_all(good, classify, errors, layout)
    rows = []
    for (item, _), prediction in zip(good, predictions, strict=True):
        if prediction is None:
            continue
        record = item.record or {}
        lead = next((d["name"] for d in prediction["departments"] if d["role"] == "lead"), None)
        row = {**(mask_values(record) if layout.mask_pii else record), **prediction_fields(prediction, lead, layout)}
        if layout.labelled:
            changed = is_changed(record, prediction, lead, layout, resolve_unit)
            row[layout.names["changed"]] = layout.yes_no(changed)
            result.labelled += changed is not None
            result.changed += bool(changed)
        rows.append(row)
        result.topics[prediction["topic"]] += 1
        result.engines[prediction["engine"]] += 1
        result.needs_review += prediction["needs_review"]
        if lead:
            result.leads[lead] += 1
    result.classified = len(rows)
    result.failed = len(errors)
    result.out = LineEncoder(layout).encode(rows)
    errors.sort(key=lambda e: int(e["row"] or 0))
    result.errors = b"".join(orjson.dumps(e, default=str) + b"\n" for e in errors)
    return result


def _id(record: dict[str, Any], layout: Layout) -> Any:
    return record.get(layout.columns.id) if layout.columns.id else None


def _classify_all(good: list[tuple[Item, Doc]], classify: Classify, errors: list[dict[str, Any]],
                  layout: Layout) -> list[dict[str, Any] | None]:
    """Classify the chunk at once; if that fails, row by row so that one bad row costs only itself."""
    if not good:
        return []
    try:
        return list(classify([doc for _, doc in good]))
    except Exception:
        log.exception("classifying a chunk of %d rows failed; retrying row by row", len(good))
    out: list[dict[str, Any] | None] = []
    for item, doc in good:
        try:
            out.append(classify([doc])[0])
        except Exception as exc:
            errors.append({"row": item.row, "id": _id(item.record or {}, layout), "error": f"分类失败：{exc}"})
            out.append(None)
    return out
