"""Labelled data: read JSONL/CSV files whose rows carry some or all labels, validate them against the
taxonomy and directory, and turn them into engine inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from sqmy.core.io import RecordError, iter_records
from sqmy.core.labels import LabelSpace, UnknownLabelError
from sqmy.models.base import Doc, Targets


@dataclass(frozen=True)
class LabeledItem:
    id: str
    title: str
    text: str
    topic_l1: str | None = None
    topic_l2: str | None = None  # "level1/level2"
    topic_l3: str | None = None  # "level1/level2/level3"
    lead: str | None = None
    assists: tuple[str, ...] | None = None  # None: the row says nothing about departments
    genre: str | None = None

    @property
    def doc(self) -> Doc:
        return Doc(text=self.text, title=self.title)


@dataclass
class LoadReport:
    items: list[LabeledItem]
    errors: list[dict[str, Any]]


def _topic(record: dict[str, Any]) -> str | None:
    path = record.get("topic_path")
    if isinstance(path, list) and path:
        return "/".join(str(p) for p in path[:3])
    if isinstance(path, str) and path.strip():
        return path.strip()
    topic = str(record.get("topic") or "").strip()
    l2 = str(record.get("topic_l2") or record.get("level2") or "").strip()
    if l2 and "/" not in l2 and topic:
        return f"{topic}/{l2}"
    return l2 or topic or None


def split_names(text: str) -> list[str]:
    """Unit names in one cell, separated by ``,``, ``，`` or ``、``."""
    return [name.strip() for name in text.replace("，", ",").replace("、", ",").split(",") if name.strip()]


def _departments(record: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    departments = record.get("departments")
    if isinstance(departments, list) and departments:
        names = [str(d.get("name") if isinstance(d, dict) else d) for d in departments]
        roles = [d.get("role", "") if isinstance(d, dict) else "" for d in departments]
        leads = [n for n, r in zip(names, roles, strict=True) if r == "lead"] or names[:1]
        return leads[0], [n for n in names if n != leads[0]]
    lead = record.get("lead") or record.get("lead_department")
    assists = record.get("assist") or record.get("assists") or record.get("assist_departments")
    if isinstance(assists, str):
        assists = split_names(assists)
    if not lead:
        return None, None
    return str(lead), [str(a) for a in (assists or [])]


def parse_item(record: dict[str, Any], labels: LabelSpace, *, default_id: str = "") -> LabeledItem:
    """Validate one labelled row; raise ``ValueError`` naming the field that is wrong."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("字段 text 缺失或为空")
    title = record.get("title") or ""
    if not isinstance(title, str):
        raise ValueError("字段 title 必须是字符串")
    topic = _topic(record)
    l1 = l2 = l3 = None
    if topic:
        l1, l2_name, l3_name = labels.taxonomy.check_leaf(topic)
        l2 = f"{l1}/{l2_name}" if l2_name else None
        l3 = f"{l2}/{l3_name}" if l3_name else None
    lead, assists = _departments(record)
    if lead is not None:
        lead = labels.directory.resolve(lead, lead=True)
        assists = list(dict.fromkeys(labels.directory.resolve(a) for a in assists or []))
        assists = [a for a in assists if a != lead]
    if l1 is None and lead is None:
        raise ValueError("该行没有任何标签（topic / topic_path / lead / departments）")
    return LabeledItem(
        id=str(record.get("id") or default_id), title=title.strip(), text=text.strip(),
        topic_l1=l1, topic_l2=l2, topic_l3=l3, lead=lead, assists=tuple(assists) if assists is not None else None,
        genre=record.get("genre"),
    )


def load_items(paths: Iterable[Path], labels: LabelSpace) -> LoadReport:
    """Read every file; bad rows are reported, never fatal."""
    items, errors = [], []
    for path in paths:
        for n, record in enumerate(iter_records(Path(path)), 1):
            if isinstance(record, RecordError):
                errors.append({"file": str(path), "row": record.row, "error": str(record)})
                continue
            try:
                items.append(parse_item(record, labels, default_id=f"{Path(path).stem}-{n}"))
            except (UnknownLabelError, ValueError) as exc:
                errors.append({"file": str(path), "row": n, "id": record.get("id"), "error": str(exc)})
    return LoadReport(items, errors)


def corpus_files(corpus_dir: Path) -> list[Path]:
    files = sorted(Path(corpus_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl corpus files in {corpus_dir}")
    return files


def merge_items(base: Sequence[LabeledItem], overrides: Sequence[LabeledItem]) -> list[LabeledItem]:
    """Later rows replace earlier rows with the same id (a correction overrides the corpus label)."""
    merged = {item.id: item for item in base}
    merged.update({item.id: item for item in overrides})
    return list(merged.values())


@dataclass
class TrainingSet:
    """What a model is trained on: items, the files they came from, and how the bundled corpus was used
    (``"all"`` labels, ``"departments"`` only, or ``None``)."""

    items: list[LabeledItem]
    sources: list[str]
    corpus_dir: str | None
    corpus_use: str | None
    errors: list[dict[str, Any]]
    notes: list[str]


TAXONOMY_ID_PREFIX = "taxonomy:"


def taxonomy_items(labels: LabelSpace) -> list[LabeledItem]:
    """One short item per level-3 leaf made of the taxonomy's own names ("户籍证件：户籍管理"), so that the names
    of the label space teach the engines too (measured: +0.2 to +0.7 points of macro-F1 on the real sets and the
    probe, docs/BENCHMARKS.md). Never held out for evaluation."""
    items = []
    for l1, kids in labels.taxonomy.tree.items():
        for l2, leaves in kids.items():
            for l3 in leaves:
                if l3 != "其他":
                    items.append(LabeledItem(id=f"{TAXONOMY_ID_PREFIX}{l1}/{l2}/{l3}", title=l3, text=f"{l2}：{l3}",
                                             topic_l1=l1, topic_l2=f"{l1}/{l2}", topic_l3=f"{l1}/{l2}/{l3}"))
    return items


def build_training_set(corpus_dir: Path | None, data: Sequence[Path], labels: LabelSpace, *,
                       use_corpus: bool = True) -> TrainingSet:
    """Corpus + a site's labelled files (later files override earlier rows with the same id).

    Without the corpus, and when the files carry no department labels (archives often carry only a topic), the
    corpus still teaches the departments heads: its items join with their topics stripped."""
    extra = load_items(data, labels)
    corpus_use = "all" if use_corpus else None
    if not use_corpus and extra.items and not any(i.lead for i in extra.items) and corpus_dir is not None:
        corpus_use = "departments"
    corpus = load_items(corpus_files(corpus_dir), labels) if corpus_use and corpus_dir else LoadReport([], [])
    notes = []
    if corpus_use == "departments":
        corpus.items = [replace(i, topic_l1=None, topic_l2=None) for i in corpus.items]
        notes.append(f"训练数据没有承办单位标签：承办单位模型改用自带语料（{len(corpus.items)} 条，只用其单位标签）")
    if corpus_use == "all":
        corpus.items += taxonomy_items(labels)
    return TrainingSet(merge_items(corpus.items, extra.items), [str(p) for p in data],
                       str(corpus_dir) if corpus_use else None, corpus_use, corpus.errors + extra.errors, notes)


def to_training(items: Sequence[LabeledItem]) -> tuple[list[Doc], Targets]:
    docs = [item.doc for item in items]
    targets = Targets(
        topic_l1=[i.topic_l1 for i in items],
        topic_l2=[i.topic_l2 for i in items],
        lead=[i.lead for i in items],
        topic_l3=[i.topic_l3 for i in items],
        involved=[[i.lead, *i.assists] if i.lead and i.assists is not None else None for i in items],
    )
    return docs, targets


def data_hash(items: Sequence[LabeledItem]) -> str:
    """Content hash of a training snapshot (order-independent)."""
    digest = hashlib.sha256()
    for line in sorted(orjson.dumps(item.__dict__, option=orjson.OPT_SORT_KEYS) for item in items):
        digest.update(line)
    return digest.hexdigest()[:16]


def is_eval_item(item_id: str, fraction: float) -> bool:
    """Stable split: an item lands in the evaluation split by a hash of its id, so the split never moves
    between retrainings and model versions are compared on the same items."""
    if fraction <= 0:
        return False
    bucket = int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % 10_000
    return bucket < fraction * 10_000
