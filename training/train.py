"""Train an engine on labelled items and store it as a new version in the registry."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

import sqmy
from sqmy.core.progress import Progress, StepProgress
from sqmy.models.base import Engine, HeadProbabilities
from sqmy.models.metadata import write_metadata
from sqmy.models.registry import ModelRegistry
from sqmy.training.data import TAXONOMY_ID_PREFIX, LabeledItem, data_hash, is_eval_item, to_training
from sqmy.training.evaluate import evaluate

DEFAULT_EVAL_FRACTION = 0.1
EVAL_ITEMS_NAME = "eval.jsonl"
EXPORT_STAGE, EVALUATE_STAGE, GATE_STAGE, SAVED_STAGE = "导出 int8 ONNX", "在留出集上评测", "与当前模型比较", "已保存"


def plan_steps(engine_name: str, n_train: int, n_eval: int, gate_after: bool) -> dict[str, float]:
    """The steps after ``fit`` and their sizes, in the engine's work units (BERT: one item through the encoder ≈ 1;
    TF-IDF: seven units for the whole fit, evaluation ≈ a tenth of one head)."""
    bert = engine_name == "bert"
    steps = {EXPORT_STAGE: 0.05 * n_train} if bert else {}
    steps[EVALUATE_STAGE] = float(n_eval) if bert else 0.3
    if gate_after:
        steps[GATE_STAGE] = float(n_eval) if bert else 0.3
    return steps


def checkpoint_dir(registry: ModelRegistry, engine_name: str) -> Path:
    """Where an interrupted training of ``engine_name`` leaves what the next run resumes from."""
    return registry.root / ".checkpoints" / engine_name


def make_engine(name: str, **params: Any) -> Engine:
    if name == "tfidf":
        from sqmy.models.tfidf import TfidfEngine

        return TfidfEngine(**params)
    if name == "bert":
        from sqmy.models.bert import BertEngine

        return BertEngine(**params)
    raise ValueError(f"unknown or unavailable engine {name!r}")


def split_items(items: Sequence[LabeledItem], eval_fraction: float) -> tuple[list[LabeledItem], list[LabeledItem]]:
    def held(item: LabeledItem) -> bool:  # the taxonomy's own names are training material, never an exam
        return not item.id.startswith(TAXONOMY_ID_PREFIX) and is_eval_item(item.id, eval_fraction)

    train = [i for i in items if not held(i)]
    held_out = [i for i in items if held(i)]
    return train, held_out


def train_and_register(
    engine_name: str,
    items: Sequence[LabeledItem],
    registry: ModelRegistry,
    *,
    sources: Sequence[str] = (),
    corpus_use: str | None = None,
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    promote: bool | None = None,
    params: dict[str, Any] | None = None,
    log: Any = print,
    progress: Progress | None = None,
    gate_after: bool = False,
) -> dict[str, Any]:
    """Fit on the training split, evaluate on the stable evaluation split, save as a new version.

    ``promote=None`` promotes only a first model while nothing else is served. ``progress`` gets one percentage
    over fitting, export and evaluation (and the gate the caller runs next, with ``gate_after``); an interrupted
    BERT run resumes from its checkpoint (``checkpoint_dir``) when trained again on the same data."""
    train, held_out = split_items(items, eval_fraction)
    if not train:
        raise ValueError("no training items left after the evaluation split")
    docs, targets = to_training(train)
    engine = make_engine(engine_name, **(params or {}))
    steps = StepProgress(progress or Progress(), plan_steps(engine_name, len(train), len(held_out), gate_after))
    log(f"training {engine_name} on {len(train)} items ({len(held_out)} held out for evaluation)")
    steps.start("训练模型")
    started = time.perf_counter()
    engine.fit(docs, targets, log=log, progress=steps.on_fit, checkpoint_dir=checkpoint_dir(registry, engine_name))
    train_seconds = time.perf_counter() - started
    version = registry.new_version(engine_name)
    parent = registry.current(engine_name)
    engine.metadata_ |= _version_metadata(engine, version, parent, items, train, held_out, sources=sources,
                                          corpus_use=corpus_use, eval_fraction=eval_fraction)
    engine.metadata_["train_seconds"] = round(train_seconds, 2)
    path = _save_version(engine, registry, version, held_out, steps)
    shutil.rmtree(checkpoint_dir(registry, engine_name), ignore_errors=True)
    # The first model of an engine goes live by itself only when nothing is served yet: a first BERT must first
    # prove itself against the TF-IDF model that `auto` serves now (see training.retrain.promote).
    first = parent is None and (engine_name == "tfidf" or registry.current("tfidf") is None)
    if promote or (promote is None and first):
        registry.set_current(engine_name, version, note="首个模型自动上线" if parent is None else "")
        engine.metadata_["promoted"] = True
    log(f"saved {version} in {train_seconds:.1f}s → {path}")
    if gate_after:
        steps.step(GATE_STAGE)
    else:
        steps.finish(SAVED_STAGE)
    return engine.metadata_


def _version_metadata(engine: Engine, version: str, parent: str | None, items: Sequence[LabeledItem],
                      train: Sequence[LabeledItem], held_out: Sequence[LabeledItem], *, sources: Sequence[str],
                      corpus_use: str | None, eval_fraction: float) -> dict[str, Any]:
    """Lineage, data snapshot and label sets of a new version."""
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parent": parent,
        "sqmy_version": sqmy.__version__,
        "data": {
            "hash": data_hash(items), "sources": list(sources), "corpus_use": corpus_use, "n_items": len(items),
            "n_train": len(train),
            "n_eval": len(held_out), "eval_fraction": eval_fraction,
            "topic_counts": dict(Counter(i.topic_l1 for i in train if i.topic_l1)),
        },
        "labels": {
            "topic_l1": engine.topic_l1_classes_, "topic_l2": engine.topic_l2_classes_,
            "lead": engine.lead_classes_, "involved": engine.involved_classes_,
        },
    }


def _save_version(engine: Engine, registry: ModelRegistry, version: str, held_out: Sequence[LabeledItem],
                  steps: StepProgress) -> Path:
    """Write the version under a temporary name and rename it when complete: a killed job never leaves half a
    version in the registry. BERT also gets its CPU serving path, the int8 ONNX graph, and is evaluated on it
    (the metrics describe what will be served)."""
    staging = registry.root / f".staging-{version}"
    engine.save(staging)
    if engine.name == "bert":
        from sqmy.models.bert_onnx import INT8_NAME, OnnxRunner, export_onnx

        steps.step(EXPORT_STAGE)
        export_onnx(engine.encoder_, engine.heads_, engine.tokenizer_, staging)
        engine.metadata_["onnx"] = INT8_NAME
        if engine._device().type == "cpu":
            engine.onnx_ = OnnxRunner(staging / INT8_NAME)
    steps.step(EVALUATE_STAGE)
    probs = engine.predict_proba([i.doc for i in held_out]) if held_out and engine.name == "bert" else None
    engine.metadata_["metrics"] = _summary(evaluate(engine, held_out, probs=probs)) if held_out else {}
    if engine.name == "bert":
        engine.metadata_["cascade"] = cascade_for(engine, registry, held_out, probs)
    write_eval_items(staging / EVAL_ITEMS_NAME, held_out)
    write_metadata(staging, engine.metadata_)
    path: Path = registry.root / version
    staging.rename(path)
    return path


def cascade_for(bert: Engine, registry: ModelRegistry, held_out: Sequence[LabeledItem],
                probs: HeadProbabilities | None) -> dict[str, Any]:
    """The cascade threshold of ``auto`` for this BERT pooled with the current TF-IDF, chosen on the evaluation
    split (``sqmy.training.cascade``); none without a TF-IDF model or when it cannot be loaded."""
    version = registry.current("tfidf")
    if version is None:
        return {"threshold": None, "reason": "no TF-IDF model"}
    from sqmy.models import load_engine
    from sqmy.training.cascade import choose_threshold

    try:
        tfidf = load_engine(registry.path(version))
    except Exception as exc:  # a broken TF-IDF artifact must not lose a finished BERT training
        return {"threshold": None, "reason": f"TF-IDF {version} could not be loaded: {exc}"}
    return choose_threshold(bert, tfidf, held_out, probs)


def write_eval_items(path: Path, items: Sequence[LabeledItem]) -> None:
    """The evaluation split beside the model, so any later comparison scores both models on the same items."""
    with open(path, "wb") as handle:
        for item in items:
            handle.write(orjson.dumps({k: v for k, v in item.__dict__.items() if v is not None}) + b"\n")


def read_eval_items(path: Path) -> list[LabeledItem]:
    file = Path(path) / EVAL_ITEMS_NAME
    if not file.is_file():
        return []
    items = []
    for line in file.read_bytes().splitlines():
        row = orjson.loads(line)
        row["assists"] = tuple(row["assists"]) if row.get("assists") is not None else None
        items.append(LabeledItem(**row))
    return items


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """Metrics worth keeping in metadata (the per-class table and the confusion matrix included)."""
    return {k: v for k, v in report.items() if k in ("topic", "topic_l2", "lead", "n_items")}
