"""Train an engine on labelled items and store it as a new version in the registry."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqmy
from models.base import Engine, write_metadata
from models.registry import ModelRegistry
from training.data import LabeledItem, data_hash, is_eval_item, to_training
from training.evaluate import evaluate

DEFAULT_EVAL_FRACTION = 0.1


def make_engine(name: str, **params: Any) -> Engine:
    if name == "tfidf":
        from models.tfidf import TfidfEngine

        return TfidfEngine(**params)
    if name == "bert":
        from models.bert import BertEngine

        return BertEngine(**params)
    raise ValueError(f"unknown or unavailable engine {name!r}")


def split_items(items: Sequence[LabeledItem], eval_fraction: float) -> tuple[list[LabeledItem], list[LabeledItem]]:
    train = [i for i in items if not is_eval_item(i.id, eval_fraction)]
    held_out = [i for i in items if is_eval_item(i.id, eval_fraction)]
    return train, held_out


def train_and_register(
    engine_name: str,
    items: Sequence[LabeledItem],
    registry: ModelRegistry,
    *,
    sources: Sequence[str] = (),
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    promote: bool | None = None,
    params: dict[str, Any] | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Fit on the training split, evaluate on the stable evaluation split, save as a new version.

    ``promote=None`` promotes only when the engine has no current version yet."""
    train, held_out = split_items(items, eval_fraction)
    if not train:
        raise ValueError("no training items left after the evaluation split")
    docs, targets = to_training(train)
    engine = make_engine(engine_name, **(params or {}))
    log(f"training {engine_name} on {len(train)} items ({len(held_out)} held out for evaluation)")
    started = time.perf_counter()
    engine.fit(docs, targets, log=log)
    train_seconds = time.perf_counter() - started
    version = registry.new_version(engine_name)
    parent = registry.current(engine_name)
    engine.metadata_ |= {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parent": parent,
        "sqmy_version": sqmy.__version__,
        "data": {
            "hash": data_hash(items), "sources": list(sources), "n_items": len(items), "n_train": len(train),
            "n_eval": len(held_out), "eval_fraction": eval_fraction,
            "topic_counts": dict(Counter(i.topic_l1 for i in train if i.topic_l1)),
        },
        "labels": {
            "topic_l1": engine.topic_l1_classes_, "topic_l2": engine.topic_l2_classes_,
            "lead": engine.lead_classes_, "involved": engine.involved_classes_,
        },
        "train_seconds": round(train_seconds, 2),
    }
    engine.metadata_["metrics"] = _summary(evaluate(engine, held_out)) if held_out else {}
    path: Path = engine.save(registry.root / version)
    if engine_name == "bert":  # the CPU serving path: int8 ONNX run by onnxruntime
        from models.bert_onnx import export_onnx

        export_onnx(engine, path)
        engine.metadata_["onnx"] = "model.int8.onnx"
    write_metadata(path, engine.metadata_)
    if promote or (promote is None and parent is None):
        registry.set_current(engine_name, version)
        engine.metadata_["promoted"] = True
    log(f"saved {version} in {train_seconds:.1f}s → {path}")
    return engine.metadata_


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """Metrics worth keeping in metadata (the per-class table and the confusion matrix included)."""
    return {k: v for k, v in report.items() if k in ("topic", "topic_l2", "lead", "n_items")}
