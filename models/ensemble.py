"""Log-linear pooling of the calibrated probabilities of several engines (aligned on the union of their labels).

The normalised geometric mean (the mean of log-probabilities; of log-odds for the independent unit
probabilities) rather than the arithmetic mean: on real messages it was as accurate or better and markedly better
calibrated, since two members that agree reinforce each other instead of being averaged down
(docs/BENCHMARKS.md). A member that does not know a class abstains on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from sqmy.models.base import Doc, Engine, HeadProbabilities, Targets, conditional_l3, hierarchical_l2

HEADS = ("topic_l1", "topic_l2", "lead", "involved", "topic_l3")
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before taking logs
CHEAP = "tfidf"  # the member the cascade asks first


def rows_of(probs: HeadProbabilities, rows: np.ndarray) -> HeadProbabilities:
    """The given rows of every head."""
    return HeadProbabilities(probs.topic_l1[rows], probs.topic_l2[rows], probs.lead[rows], probs.involved[rows],
                             None if probs.topic_l3 is None else probs.topic_l3[rows])


class EnsembleEngine(Engine):
    """Serves the pooled probabilities of its members; it is assembled from loaded engines, never trained.

    ``cascade``: the TF-IDF confidence (calibrated level-1 probability) from which an item skips the other member
    and gets TF-IDF's answer alone; ``None`` takes the threshold stored with the BERT model, 1 or more turns the
    cascade off (every item reads every member, as before the cascade existed)."""

    name = "ensemble"

    def __init__(self, *, members: Sequence[Engine] = (), cascade: float | None = None) -> None:
        self.members = members
        self.cascade = cascade

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.members)

    @property
    def version(self) -> str:
        return "+".join(m.version for m in self.members)

    @property
    def metadata_(self) -> dict[str, Any]:  # type: ignore[override]
        """Assembled at load time, so no file of its own: its members' versions and metrics."""
        return {"engine": self.name, "version": self.version, "created_at": None,
                "members": [m.metadata_ for m in self.members], "metrics": {}}

    def _classes(self, head: str) -> list[str]:
        return self._alignment(head)[0]

    def _alignment(self, head: str) -> tuple[list[str], list[np.ndarray]]:
        """The union of the members' classes of ``head``, sorted, and per member the columns its classes take in
        it; kept while the members and their class lists are the same objects. Built once instead of on every
        call (a sorted union and a ``list.index`` per class were most of the CPU of an item that skips BERT), and
        the same list each time, so the routing's per-list caches (``families``, ``class_paths``) hold."""
        lists = [getattr(m, f"{head}_classes_", []) for m in self.members]
        cache: dict[str, tuple[list[Any], list[str], list[np.ndarray]]] = self.__dict__.setdefault("_alignments", {})
        entry = cache.get(head)
        current = [*self.members, *lists]
        if entry is None or len(entry[0]) != len(current) or any(a is not b for a, b in zip(entry[0], current,
                                                                                              strict=True)):
            classes = sorted({c for names in lists for c in names})
            position = {c: i for i, c in enumerate(classes)}
            entry = cache[head] = (current, classes,
                                   [np.array([position[c] for c in names], dtype=np.intp) for names in lists])
        return entry[1], entry[2]

    @property
    def topic_l3_classes_(self) -> list[str]:  # type: ignore[override]
        return self._classes("topic_l3")

    @property
    def topic_l1_classes_(self) -> list[str]:  # type: ignore[override]
        return self._classes("topic_l1")

    @property
    def topic_l2_classes_(self) -> list[str]:  # type: ignore[override]
        return self._classes("topic_l2")

    @property
    def lead_classes_(self) -> list[str]:  # type: ignore[override]
        return self._classes("lead")

    @property
    def involved_classes_(self) -> list[str]:  # type: ignore[override]
        return self._classes("involved")

    @property
    def cascade_threshold_(self) -> float | None:
        """The TF-IDF confidence from which BERT is skipped: ``cascade`` when given, else the threshold stored with
        the BERT member (chosen on the corpus's evaluation split); ``None`` (or ≥ 1) when every item reads both."""
        threshold = self.cascade
        if threshold is None:
            stored = [m.metadata_.get("cascade", {}).get("threshold") for m in self.members
                      if m.name != CHEAP and isinstance(getattr(m, "metadata_", None), dict)]
            threshold = next((t for t in stored if t is not None), None)
        if threshold is None or threshold >= 1 or self._cheap() is None or len(self.members) != 2:
            return None
        return float(threshold)

    def _cheap(self) -> int | None:
        return next((i for i, m in enumerate(self.members) if m.name == CHEAP), None)

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        """Pooled probabilities; with a cascade threshold, items on which TF-IDF is at least that confident (its
        calibrated level-1 probability) get TF-IDF's answer alone and never reach the other member. ``versions``
        then records, per item, the member versions that answered."""
        threshold = self.cascade_threshold_
        if threshold is None:
            return self.pool([m.predict_proba(docs) for m in self.members], len(docs))
        cheap = cast(int, self._cheap())
        first = self.members[cheap].predict_proba(docs)
        alone = [first if i == cheap else None for i in range(len(self.members))]
        out = self.pool(alone, len(docs))
        rest = np.flatnonzero(first.topic_l1.max(axis=1) < threshold) if len(docs) else np.zeros(0, dtype=int)
        versions = [self.members[cheap].version] * len(docs)
        if len(rest):
            subset = [rows_of(first, rest) if i == cheap else m.predict_proba([docs[int(j)] for j in rest])
                      for i, m in enumerate(self.members)]
            both = self.pool(subset, len(rest))
            for name in ("topic_l1", "topic_l2", "lead", "involved", "topic_l3"):
                if getattr(out, name) is not None:
                    getattr(out, name)[rest] = getattr(both, name)
            for j in rest:
                versions[j] = self.version
        out.versions = versions
        return out

    def pool(self, outputs: Sequence[HeadProbabilities | None], n: int) -> HeadProbabilities:
        """Log-linear pool of the members' outputs (aligned with ``members``; ``None``: that member did not run,
        and a class only it knows gets probability 0)."""
        pooled = {}
        for head in HEADS:
            classes, columns = self._alignment(head)
            total = np.zeros((n, len(classes)))
            votes = np.zeros(len(classes))
            for index, probs in zip(columns, outputs, strict=True):
                if probs is None or getattr(probs, head) is None:  # a member without this head abstains
                    continue
                p = np.clip(getattr(probs, head), EPS, 1 - EPS)
                total[:, index] += np.log(p) - (np.log1p(-p) if head == "involved" else 0)
                votes[index] += 1
            mean = total / np.maximum(votes, 1)
            unknown = votes == 0
            if head == "involved":
                pooled[head] = 1 / (1 + np.exp(-mean))
                pooled[head][:, unknown] = 0.0
            elif len(classes):
                if unknown.any() and not unknown.all():
                    mean[:, unknown] = -np.inf
                weights = np.exp(mean - mean.max(axis=1, keepdims=True))
                pooled[head] = weights / weights.sum(axis=1, keepdims=True)
            else:
                pooled[head] = total
        l1 = pooled["topic_l1"]
        l2 = hierarchical_l2(l1, self.topic_l1_classes_, pooled["topic_l2"], self.topic_l2_classes_)
        l3 = conditional_l3(pooled["topic_l3"], self.topic_l3_classes_) if pooled["topic_l3"].shape[1] else None
        return HeadProbabilities(l1, l2, pooled["lead"], pooled["involved"], l3)

    def fit(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None,
            **fit_params: Any) -> EnsembleEngine:
        raise NotImplementedError("an ensemble is assembled from trained engines; train its members instead")

    def save(self, path: Path) -> Path:
        raise NotImplementedError("an ensemble is not stored; it is assembled at load time (SQMY_ENSEMBLE)")

    @classmethod
    def load(cls, path: Path) -> EnsembleEngine:
        raise NotImplementedError("an ensemble is not stored; it is assembled at load time (SQMY_ENSEMBLE)")
