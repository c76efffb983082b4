"""The TF-IDF engine's heads: linear SVMs over the shared features, each with its calibration.

A head fits its SVM(s) and calibration on a feature matrix, hands its weights to the engine (which stacks every
head's into one product) and keeps what serving needs: labels and calibration, written to the artifact as JSON by
``state()`` and read back by ``from_state``. scikit-learn is imported to fit only."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from sqmy.models.calibration import PlattScaler, fit_temperature, grouped_softmax, out_of_fold_scores, softmax_t

if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.svm import LinearSVC


def _svm(c: float, class_weight: str | None) -> LinearSVC:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, class_weight=class_weight, random_state=0)


def _scores(clf: LinearSVC, x: sp.spmatrix) -> np.ndarray:
    """Decision scores as ``(n, n_classes)``, also for binary problems."""
    dec = clf.decision_function(x)
    return np.column_stack([-dec / 2, dec / 2]) if dec.ndim == 1 else dec


class _LinearHead:
    """A head whose scores are ``x @ coef_ + intercept_`` until the engine stacks every head's weights."""

    coef_: np.ndarray
    intercept_: np.ndarray

    def linear(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` with ``x @ W + b`` equal to the head's scores, ``W`` of shape ``(n_features, n_classes)``."""
        return self.coef_, self.intercept_

    def discard_weights(self) -> None:
        """Drop the own copy once the engine has stacked it (halves the artifact)."""
        self.coef_ = self.intercept_ = None  # type: ignore[assignment]


class MulticlassHead(_LinearHead):
    """A linear SVM over shared features whose scores are temperature-scaled into probabilities.

    After fitting, ``linear()`` gives the weights (the engine stacks them) and ``from_scores`` the calibration."""

    def __init__(self, *, c: float = 0.5, class_weight: str | None = None, cv: int = 3) -> None:
        self.c, self.class_weight, self.cv = c, class_weight, cv

    def fit(self, x: sp.csr_matrix, labels: Sequence[str]) -> MulticlassHead:
        self.classes_ = sorted(set(labels))
        index = {c: i for i, c in enumerate(self.classes_)}
        y = np.array([index[v] for v in labels])
        if len(self.classes_) == 1:
            self.coef_ = np.zeros((x.shape[1], 1), dtype=np.float32)
            self.intercept_, self.temperature_ = np.zeros(1, dtype=np.float32), 1.0
            return self

        def fold(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            out = np.full((len(test), len(self.classes_)), np.nan)
            present = np.unique(y[train])
            if len(present) > 1:
                out[:, present] = _scores(_svm(self.c, self.class_weight).fit(x[train], y[train]), x[test])
            return out

        n_splits = min(self.cv, len(y))
        oof = out_of_fold_scores(fold, len(y), len(self.classes_), n_splits=n_splits) if n_splits > 1 else None
        clf = _svm(self.c, self.class_weight).fit(x, y)
        coef, intercept = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # binary: scores (-d/2, d/2)
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef_, self.intercept_ = coef.T.astype(np.float32), intercept.astype(np.float32)
        self.temperature_ = fit_temperature(oof, y) if oof is not None else 1.0
        return self

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        return softmax_t(scores, self.temperature_)

    def state(self) -> dict[str, Any]:
        """What serving needs once the weights are stacked: labels and calibration (JSON)."""
        return {"kind": "multiclass", "params": {"c": self.c, "class_weight": self.class_weight, "cv": self.cv},
                "classes": list(self.classes_), "temperature": float(self.temperature_)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MulticlassHead:
        head = cls(**state["params"])
        head.classes_, head.temperature_ = list(state["classes"]), float(state["temperature"])
        head.discard_weights()
        return head


class MultilabelHead(_LinearHead):
    """One binary linear SVM per label, one shared Platt sigmoid fitted on out-of-fold scores."""

    def __init__(self, *, c: float = 0.5, cv: int = 3) -> None:
        self.c, self.cv = c, cv

    @staticmethod
    def _fit_columns(x: sp.csr_matrix, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        coef = np.zeros((y.shape[1], x.shape[1]))
        intercept = np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            if y[:, j].min() == y[:, j].max():  # constant column: a fixed, confident score
                intercept[j] = 2.0 if y[0, j] else -2.0
                continue
            clf = _svm(c, None).fit(x, y[:, j])
            coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
        return coef, intercept

    def fit(self, x: sp.csr_matrix, label_sets: Sequence[Sequence[str]]) -> MultilabelHead:
        self.classes_ = sorted({label for labels in label_sets for label in labels})
        index = {c: i for i, c in enumerate(self.classes_)}
        y = np.zeros((len(label_sets), len(self.classes_)), dtype=int)
        for row, labels in enumerate(label_sets):
            y[row, [index[v] for v in labels]] = 1

        def fold(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            coef, intercept = self._fit_columns(x[train], y[train], self.c)
            return np.asarray(x[test] @ coef.T) + intercept

        n_splits = min(self.cv, len(y))
        coef, intercept = self._fit_columns(x, y, self.c)
        self.coef_, self.intercept_ = coef.T.astype(np.float32), intercept.astype(np.float32)
        oof = out_of_fold_scores(fold, len(y), len(self.classes_), n_splits=n_splits) if n_splits > 1 else None
        self.scaler_ = PlattScaler().fit(oof if oof is not None else np.asarray(x @ coef.T), y)
        return self

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(scores)

    def state(self) -> dict[str, Any]:
        return {"kind": "multilabel", "params": {"c": self.c, "cv": self.cv}, "classes": list(self.classes_),
                "platt": [float(self.scaler_.coef_), float(self.scaler_.intercept_)]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MultilabelHead:
        head = cls(**state["params"])
        head.classes_, head.scaler_ = list(state["classes"]), PlattScaler()
        head.scaler_.coef_, head.scaler_.intercept_ = (float(v) for v in state["platt"])
        head.discard_weights()
        return head


class Level3Head:
    """P(level 3 | its level 2): one small calibrated multiclass head per level-2 family, trained only on that
    family's rows (far cheaper than one head over ~400 leaves, and conditional by construction). The families'
    weights are stacked side by side like any other head's."""

    def __init__(self, *, c: float = 0.5, cv: int = 3) -> None:
        self.c, self.cv = c, cv

    def fit(self, x: sp.csr_matrix, labels: Sequence[str]) -> Level3Head:
        families: dict[str, list[int]] = {}
        for row, leaf in enumerate(labels):
            families.setdefault(leaf.rsplit("/", 1)[0], []).append(row)
        self.heads_ = {family: MulticlassHead(c=self.c, cv=self.cv).fit(x[rows], [labels[i] for i in rows])
                       for family, rows in sorted(families.items())}
        self.classes_ = [leaf for head in self.heads_.values() for leaf in head.classes_]
        return self

    def linear(self) -> tuple[np.ndarray, np.ndarray]:
        parts = [head.linear() for head in self.heads_.values()]
        return np.hstack([w for w, _ in parts]), np.concatenate([b for _, b in parts])

    def discard_weights(self) -> None:
        for head in self.heads_.values():
            head.discard_weights()

    @cached_property
    def _groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each family's columns start, and each column's temperature."""
        sizes = [len(head.classes_) for head in self.heads_.values()]
        starts = np.cumsum([0, *sizes[:-1]]).astype(np.intp)
        return starts, np.repeat([head.temperature_ for head in self.heads_.values()], sizes)

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        """Each family's calibrated softmax, all families at once (one grouped softmax, not one per family)."""
        starts, temperatures = self._groups
        return grouped_softmax(scores, starts, temperatures.astype(scores.dtype, copy=False))

    def state(self) -> dict[str, Any]:
        return {"kind": "level3", "params": {"c": self.c, "cv": self.cv},
                "families": [[family, head.state()] for family, head in self.heads_.items()]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Level3Head:
        head = cls(**state["params"])
        head.heads_ = {family: MulticlassHead.from_state(s) for family, s in state["families"]}
        head.classes_ = [leaf for h in head.heads_.values() for leaf in h.classes_]
        return head


HEAD_KINDS: dict[str, Any] = {"multiclass": MulticlassHead, "multilabel": MultilabelHead, "level3": Level3Head}
