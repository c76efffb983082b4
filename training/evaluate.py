"""Classification metrics for whatever labels a file carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sqmy.models.base import Engine, HeadProbabilities
from sqmy.training.data import LabeledItem


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    if len(confidence) == 0:
        return 0.0
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def classification_report(y_true: Sequence[str], y_pred: Sequence[str], confidence: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 over the labels present in ``y_true``, per-class scores, confusion matrix, ECE."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = sorted(set(y_true))
    predicted_only = sorted(set(y_pred) - set(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    columns = labels + predicted_only
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "ece": expected_calibration_error(confidence, np.array(y_true) == np.array(y_pred)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion": {
            "rows": labels, "columns": columns,
            "matrix": confusion_matrix(y_true, y_pred, labels=columns)[: len(labels)].tolist(),
        },
    }


def _argmax(probs: np.ndarray, classes: list[str], rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    best = probs[rows].argmax(axis=1)
    return [classes[i] for i in best], probs[rows, best]


def evaluate(engine: Engine, items: Sequence[LabeledItem], batch_size: int = 512,
             probs: HeadProbabilities | None = None) -> dict[str, Any]:
    """Score ``engine`` on every label the items carry: level-1 topic, level-2 topic and lead unit (``probs``: the
    engine's output on ``items`` when already computed)."""
    parts = [probs] if probs is not None else [
        engine.predict_proba([i.doc for i in items[s:s + batch_size]]) for s in range(0, len(items), batch_size)]
    stacked = {f: np.vstack([getattr(p, f) for p in parts]) for f in ("topic_l1", "topic_l2", "lead", "involved")}
    probs = HeadProbabilities(stacked["topic_l1"], stacked["topic_l2"], stacked["lead"], stacked["involved"])
    l3 = [p.topic_l3 for p in parts if p.topic_l3 is not None]
    if l3 and len(l3) == len(parts):
        # level 3 scored as a whole path: P(l3 | l2) · P(l2), argmax over every leaf
        l2_index = {c: j for j, c in enumerate(engine.topic_l2_classes_)}
        parent_p = np.column_stack([probs.topic_l2[:, l2_index[c.rsplit("/", 1)[0]]] if c.rsplit("/", 1)[0] in l2_index
                                    else np.zeros(len(items)) for c in engine.topic_l3_classes_])
        probs.topic_l3 = np.vstack(l3) * parent_p
    report: dict[str, Any] = {"engine": engine.name, "model_version": engine.version, "n_items": len(items)}
    for key, matrix, classes in (
        ("topic", probs.topic_l1, engine.topic_l1_classes_),
        ("topic_l2", probs.topic_l2, engine.topic_l2_classes_),
        ("lead", probs.lead, engine.lead_classes_),
        ("topic_l3", probs.topic_l3, engine.topic_l3_classes_),
    ):
        if matrix is None:
            continue
        truth = [getattr(i, {"topic": "topic_l1", "topic_l2": "topic_l2", "lead": "lead", "topic_l3": "topic_l3"}[key])
                 for i in items]
        rows = np.array([n for n, t in enumerate(truth) if t])
        if len(rows) == 0 or matrix.shape[1] == 0:
            continue
        predicted, confidence = _argmax(matrix, classes, rows)
        report[key] = classification_report([truth[n] for n in rows], predicted, confidence)
    return report
