"""The cascade threshold of ``auto`` (``EnsembleEngine``): the lowest TF-IDF confidence from which answering with
TF-IDF alone costs the pooled answer no more than ``tolerance`` of level-1 macro-F1 and of lead accuracy on the
evaluation split, which neither model was trained on. Stored with the BERT model (``metadata["cascade"]``).

Every threshold is tried, not only until the first one past the tolerance: near the top a handful of items moves
the lead accuracy by more than 0.2 points, and stopping there kept a distilled student's cascade off although
lower thresholds cost nothing (docs/BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from sqmy.models.base import Engine, HeadProbabilities
from sqmy.models.ensemble import EnsembleEngine
from sqmy.training.data import LabeledItem

TOLERANCE = 0.002  # at most 0.2 points of macro-F1 / lead accuracy given up on the evaluation split
MIN_ITEMS = 100  # below this the split says too little to choose a threshold: the cascade stays off


def _scores(items: Sequence[LabeledItem], ensemble: EnsembleEngine, l1: np.ndarray,
            lead: np.ndarray) -> tuple[float, float]:
    rows = [n for n, i in enumerate(items) if i.topic_l1]
    truth = [str(items[n].topic_l1) for n in rows]
    predicted = [ensemble.topic_l1_classes_[j] for j in l1[rows]]
    labels = sorted(set(truth))
    macro = float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))
    leads = [n for n, i in enumerate(items) if i.lead]
    accuracy = (float(np.mean([ensemble.lead_classes_[lead[n]] == items[n].lead for n in leads]))
                if leads and len(ensemble.lead_classes_) else 1.0)
    return macro, accuracy


def choose_threshold(bert: Engine, tfidf: Engine, items: Sequence[LabeledItem],
                     bert_probs: HeadProbabilities | None = None, tolerance: float = TOLERANCE,
                     min_items: int = MIN_ITEMS) -> dict[str, Any]:
    """``{"threshold", "skipped_share", ...}`` for the pool of ``bert`` and ``tfidf`` on ``items``
    (``bert_probs``: BERT's output on them when already computed); ``threshold`` is ``None`` when no item can skip
    BERT at that cost or the split is too small."""
    docs = [i.doc for i in items]
    if len(items) < min_items:
        return {"threshold": None, "n_items": len(items), "tfidf": tfidf.version, "reason": "too few evaluation items"}
    ensemble = EnsembleEngine(members=[bert, tfidf], cascade=1.0)
    first = tfidf.predict_proba(docs)
    full = ensemble.pool([bert_probs if bert_probs is not None else bert.predict_proba(docs), first], len(docs))
    alone = ensemble.pool([None, first], len(docs))
    confidence = first.topic_l1.max(axis=1)
    best_full = (full.topic_l1.argmax(1), full.lead.argmax(1) if full.lead.shape[1] else np.zeros(len(docs), int))
    best_alone = (alone.topic_l1.argmax(1), alone.lead.argmax(1) if alone.lead.shape[1] else best_full[1])
    reference = _scores(items, ensemble, *best_full)
    chosen: dict[str, Any] = {"threshold": None, "skipped_share": 0.0}
    for threshold in sorted(set(np.round(confidence, 3).tolist()) | {0.999}, reverse=True):
        skip = confidence >= threshold
        cascaded = _scores(items, ensemble, np.where(skip, best_alone[0], best_full[0]),
                           np.where(skip, best_alone[1], best_full[1]))
        if cascaded[0] < reference[0] - tolerance or cascaded[1] < reference[1] - tolerance:
            continue  # not this one; a lower threshold may still be within the tolerance (one item is 0.08 points)
        chosen = {"threshold": round(float(threshold), 4), "skipped_share": round(float(skip.mean()), 4),
                  "macro_f1": round(cascaded[0], 4), "lead_accuracy": round(cascaded[1], 4)}
    return {**chosen, "n_items": len(items), "tolerance": tolerance, "tfidf": tfidf.version,
            "full_macro_f1": round(reference[0], 4), "full_lead_accuracy": round(reference[1], 4)}
