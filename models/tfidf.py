"""TF-IDF engine: jieba word n-grams + character n-grams, linear SVMs, calibrated probabilities."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from sqmy.core.text import join_title
from sqmy.models.base import Doc, Engine, HeadProbabilities, Targets, check_docs, hierarchical_l2
from sqmy.models.calibration import PlattScaler, fit_temperature, out_of_fold_scores, softmax_t
from sqmy.models.features import TextFeatures
from sqmy.models.metadata import read_metadata, write_metadata

MODEL_NAME = "model.joblib"


def _svm(c: float, class_weight: str | None) -> LinearSVC:
    return LinearSVC(C=c, class_weight=class_weight, random_state=0)


def _scores(clf: LinearSVC, x: sp.spmatrix) -> np.ndarray:
    """Decision scores as ``(n, n_classes)``, also for binary problems."""
    dec = clf.decision_function(x)
    return np.column_stack([-dec / 2, dec / 2]) if dec.ndim == 1 else dec


HEAD_ATTRS = ("topic_l1_", "topic_l2_", "lead_", "involved_", "topic_l3_")  # order of the stacked weights


class MulticlassHead:
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

    def linear(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` with ``x @ W + b`` equal to the head's scores, ``W`` of shape ``(n_features, n_classes)``."""
        return self.coef_, self.intercept_

    def discard_weights(self) -> None:
        """Drop the own copy once the engine has stacked it (halves the artifact)."""
        self.coef_ = self.intercept_ = None  # type: ignore[assignment]

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        return softmax_t(scores, self.temperature_)


class MultilabelHead:
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
            clf = LinearSVC(C=c, random_state=0).fit(x, y[:, j])
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

    def linear(self) -> tuple[np.ndarray, np.ndarray]:
        return self.coef_, self.intercept_

    def discard_weights(self) -> None:
        self.coef_ = self.intercept_ = None  # type: ignore[assignment]

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(scores)


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

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        out, start = np.zeros_like(scores), 0
        for head in self.heads_.values():
            end = start + len(head.classes_)
            out[:, start:end] = head.from_scores(scores[:, start:end])
            start = end
        return out


class TfidfEngine(Engine):
    """The fast, always-available engine.

    Parameters
    ----------
    c : float, default=0.5
        Inverse regularisation of every linear SVM.
    max_features : int, default=60000
        Vocabulary cap of each of the word and character vectorizers.
    min_df : int, default=2
        Minimum document frequency of a word or character n-gram.
    cv : int, default=3
        Folds used to fit the calibration on out-of-fold scores.

    Attributes
    ----------
    topic_l1_classes_, topic_l2_classes_, lead_classes_, involved_classes_ : list of str
        Label order of the columns of :meth:`predict_proba`'s heads.
    """

    name = "tfidf"

    def __init__(self, *, c: float = 0.5, max_features: int = 60_000, min_df: int = 2, cv: int = 3) -> None:
        self.c = c
        self.max_features = max_features
        self.min_df = min_df
        self.cv = cv

    def _transform(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        return self.features_.transform([join_title(d.title, d.text) for d in check_docs(docs)])

    def fit(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None,
            **fit_params: Any) -> TfidfEngine:
        docs = check_docs(docs)
        if len(docs) != len(targets.topic_l1):
            raise ValueError(f"{len(docs)} docs but {len(targets.topic_l1)} targets")
        # progress in rough units: segmentation and features ≈ 2 heads' worth, then five heads
        report = fit_params.get("progress") or (lambda _stage, _done, _total: None)
        report("分词与特征", 0, 7)
        self.features_ = TextFeatures(min_df=self.min_df, max_features=self.max_features)
        x = self.features_.fit_transform([join_title(d.title, d.text) for d in docs])
        fitted_heads = [2]

        def rows(values: Sequence[Any]) -> np.ndarray:
            return np.array([i for i, v in enumerate(values) if v])

        def head(values: Sequence[Any], make: Any) -> tuple[Any, list[str]]:
            report(f"训练分类头 {fitted_heads[0] - 1}/5", fitted_heads[0], 7)
            fitted_heads[0] += 1
            idx = rows(values)
            if len(idx) == 0:
                return None, []
            fitted = make().fit(x[idx], [values[i] for i in idx])
            return fitted, fitted.classes_

        self.topic_l1_, self.topic_l1_classes_ = head(targets.topic_l1, lambda: MulticlassHead(c=self.c, cv=self.cv))
        if self.topic_l1_ is None:
            raise ValueError("no training row has a topic label")
        self.topic_l2_, self.topic_l2_classes_ = head(targets.topic_l2, lambda: MulticlassHead(c=self.c, cv=self.cv))
        self.lead_, self.lead_classes_ = head(
            targets.lead, lambda: MulticlassHead(c=self.c, cv=self.cv, class_weight="balanced"))
        self.involved_, self.involved_classes_ = head(targets.involved, lambda: MultilabelHead(c=self.c, cv=self.cv))
        self.topic_l3_, self.topic_l3_classes_ = head(targets.topic_l3, lambda: Level3Head(c=self.c, cv=self.cv))
        self._stack_heads()
        report("训练分类头 5/5", 7, 7)
        self.metadata_ = {"engine": self.name, "params": self.get_params(), "sklearn_version": sklearn.__version__,
                          "n_features": self.features_.n_features}
        return self

    def _stack_heads(self) -> None:
        """One dense ``(n_features, n_outputs)`` matrix for all heads: a single sparse-dense product."""
        heads = [h for h in (getattr(self, name, None) for name in HEAD_ATTRS) if h is not None]
        parts = [h.linear() for h in heads]
        self.weights_ = np.hstack([w for w, _ in parts]).astype(np.float32)
        self.bias_ = np.concatenate([b for _, b in parts]).astype(np.float32)
        self.slices_ = np.cumsum([0] + [w.shape[1] for w, _ in parts]).tolist()
        for head in heads:  # the stacked copy is the only one kept (halves the artifact)
            head.discard_weights()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "topic_l1_")

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        check_is_fitted(self)
        scores = np.asarray(self._transform(docs) @ self.weights_) + self.bias_
        n, out, k = scores.shape[0], {}, 0
        for name in HEAD_ATTRS:
            head = getattr(self, name, None)  # models saved before level 3 have no topic_l3_
            if head is None:
                out[name] = np.zeros((n, 0))
                continue
            out[name] = head.from_scores(scores[:, self.slices_[k]:self.slices_[k + 1]])
            k += 1
        l1, l2, lead, involved = out["topic_l1_"], out["topic_l2_"], out["lead_"], out["involved_"]
        l3 = out["topic_l3_"] if out["topic_l3_"].shape[1] else None  # already conditional on the level 2
        return HeadProbabilities(l1, hierarchical_l2(l1, self.topic_l1_classes_, l2, self.topic_l2_classes_),
                                 lead, involved, l3)

    def save(self, path: Path) -> Path:
        check_is_fitted(self)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path / MODEL_NAME, compress=3)
        write_metadata(path, self.metadata_)
        return path

    @classmethod
    def load(cls, path: Path) -> TfidfEngine:
        metadata = read_metadata(path)
        saved = metadata.get("sklearn_version")
        if saved and saved != sklearn.__version__:
            warnings.warn(f"{path}: saved with scikit-learn {saved}, running {sklearn.__version__}", stacklevel=2)
        engine = joblib.load(Path(path) / MODEL_NAME)
        if not isinstance(engine, cls):
            raise TypeError(f"{path}: {MODEL_NAME} holds a {type(engine).__name__}, not a {cls.__name__}")
        engine.metadata_ = metadata
        return engine
