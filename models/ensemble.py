"""Log-linear pooling of the calibrated probabilities of several engines (aligned on the union of their labels).

The normalised geometric mean (the mean of log-probabilities; of log-odds for the independent unit
probabilities) rather than the arithmetic mean: on real messages it was as accurate or better and markedly better
calibrated, since two members that agree reinforce each other instead of being averaged down
(docs/BENCHMARKS.md). A member that does not know a class abstains on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.models.base import Doc, Engine, HeadProbabilities, Targets, conditional_l3, hierarchical_l2

HEADS = ("topic_l1", "topic_l2", "lead", "involved", "topic_l3")
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before taking logs


class EnsembleEngine(Engine):
    """Serves the pooled probabilities of its members; it is assembled from loaded engines, never trained."""

    name = "ensemble"

    def __init__(self, *, members: Sequence[Engine] = ()) -> None:
        self.members = members

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
        return sorted({c for m in self.members for c in getattr(m, f"{head}_classes_", [])})

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

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        outputs = [m.predict_proba(docs) for m in self.members]
        pooled = {}
        for head in HEADS:
            classes = self._classes(head)
            total = np.zeros((len(docs), len(classes)))
            votes = np.zeros(len(classes))
            for member, probs in zip(self.members, outputs, strict=True):
                if getattr(probs, head) is None:  # a member without this head abstains
                    continue
                index = [classes.index(c) for c in getattr(member, f"{head}_classes_", [])]
                p = np.clip(getattr(probs, head), EPS, 1 - EPS)
                total[:, index] += np.log(p) - (np.log1p(-p) if head == "involved" else 0)
                votes[index] += 1
            mean = total / np.maximum(votes, 1)
            if head == "involved":
                pooled[head] = 1 / (1 + np.exp(-mean))
            elif len(classes):
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
