"""TF-IDF engine: jieba word n-grams + character n-grams, linear SVMs, calibrated probabilities."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from models.base import Doc, Engine, HeadProbabilities, Targets, check_docs, read_metadata, write_metadata
from models.calibration import PlattScaler, fit_temperature, out_of_fold_scores, softmax_t
from models.text import join_title, words

MODEL_NAME = "model.joblib"


def _svm(c: float, class_weight: str | None) -> LinearSVC:
    return LinearSVC(C=c, class_weight=class_weight, random_state=0)


def _scores(clf: LinearSVC, x: sp.spmatrix) -> np.ndarray:
    """Decision scores as ``(n, n_classes)``, also for binary problems."""
    dec = clf.decision_function(x)
    return np.column_stack([-dec / 2, dec / 2]) if dec.ndim == 1 else dec


class MulticlassHead:
    """A linear SVM over shared features whose scores are temperature-scaled into probabilities."""

    def __init__(self, *, c: float = 0.5, class_weight: str | None = None, cv: int = 3) -> None:
        self.c, self.class_weight, self.cv = c, class_weight, cv

    def fit(self, x: sp.csr_matrix, labels: Sequence[str]) -> MulticlassHead:
        self.classes_ = sorted(set(labels))
        index = {c: i for i, c in enumerate(self.classes_)}
        y = np.array([index[v] for v in labels])
        if len(self.classes_) == 1:
            self.clf_, self.temperature_ = None, 1.0
            return self

        def fold(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            out = np.full((len(test), len(self.classes_)), np.nan)
            present = np.unique(y[train])
            if len(present) > 1:
                out[:, present] = _scores(_svm(self.c, self.class_weight).fit(x[train], y[train]), x[test])
            return out

        n_splits = min(self.cv, len(y))
        oof = out_of_fold_scores(fold, len(y), len(self.classes_), n_splits=n_splits) if n_splits > 1 else None
        self.clf_ = _svm(self.c, self.class_weight).fit(x, y)
        self.temperature_ = fit_temperature(oof, y) if oof is not None else 1.0
        return self

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        if self.clf_ is None:
            return np.ones((x.shape[0], 1))
        return softmax_t(_scores(self.clf_, x), self.temperature_)


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
        coef, self.intercept_ = self._fit_columns(x, y, self.c)
        self.coef_ = sp.csr_matrix(coef.T)
        oof = out_of_fold_scores(fold, len(y), len(self.classes_), n_splits=n_splits) if n_splits > 1 else None
        self.scaler_ = PlattScaler().fit(oof if oof is not None else np.asarray(x @ coef.T), y)
        return self

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        return self.scaler_.transform(np.asarray((x @ self.coef_).todense()) + self.intercept_)


def _features(max_features: int) -> FeatureUnion:
    word = TfidfVectorizer(analyzer=words, sublinear_tf=True, min_df=1, max_features=max_features,
                           dtype=np.float32)
    char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2,
                           max_features=max_features, lowercase=False, dtype=np.float32)
    return FeatureUnion([("word", word), ("char", char)])


class TfidfEngine(Engine):
    """The fast, always-available engine.

    Parameters
    ----------
    c : float, default=0.5
        Inverse regularisation of every linear SVM.
    max_features : int, default=300000
        Vocabulary cap of each of the word and character vectorizers.
    cv : int, default=3
        Folds used to fit the calibration on out-of-fold scores.

    Attributes
    ----------
    topic_l1_classes_, topic_l2_classes_, lead_classes_, involved_classes_ : list of str
        Label order of the columns of :meth:`predict_proba`'s heads.
    """

    name = "tfidf"

    def __init__(self, *, c: float = 0.5, max_features: int = 300_000, cv: int = 3) -> None:
        self.c = c
        self.max_features = max_features
        self.cv = cv

    def _transform(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        return self.features_.transform([join_title(d.title, d.text) for d in check_docs(docs)]).tocsr()

    def fit(self, docs: Sequence[Doc], targets: Targets) -> TfidfEngine:
        docs = check_docs(docs)
        if len(docs) != len(targets.topic_l1):
            raise ValueError(f"{len(docs)} docs but {len(targets.topic_l1)} targets")
        self.features_ = _features(self.max_features)
        x = self.features_.fit_transform([join_title(d.title, d.text) for d in docs]).tocsr()

        def rows(values: Sequence[Any]) -> np.ndarray:
            return np.array([i for i, v in enumerate(values) if v])

        def head(values: Sequence[Any], make: Any) -> tuple[Any, list[str]]:
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
        self.metadata_ = {"engine": self.name, "params": self.get_params(), "sklearn_version": sklearn.__version__}
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "topic_l1_")

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        check_is_fitted(self)
        x = self._transform(docs)
        n = x.shape[0]
        l1 = self.topic_l1_.predict_proba(x)
        l2 = self.topic_l2_.predict_proba(x) if self.topic_l2_ else np.zeros((n, 0))
        lead = self.lead_.predict_proba(x) if self.lead_ else np.zeros((n, 0))
        involved = self.involved_.predict_proba(x) if self.involved_ else np.zeros((n, 0))
        return HeadProbabilities(l1, hierarchical_l2(l1, self.topic_l1_classes_, l2, self.topic_l2_classes_),
                                 lead, involved)

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


def hierarchical_l2(l1: np.ndarray, l1_classes: list[str], l2: np.ndarray, l2_classes: list[str]) -> np.ndarray:
    """Make level-2 probabilities consistent with level 1: P(l2) = P(l1) · P(l2 | l1).

    ``P(l2 | l1)`` is the level-2 head's probability renormalised within its parent; a level-1 class
    without level-2 children keeps its mass on no level-2 column (the path then stops at level 1)."""
    if l2.shape[1] == 0:
        return l2
    parent = np.array([l1_classes.index(c.split("/")[0]) if c.split("/")[0] in l1_classes else -1
                       for c in l2_classes])
    out = np.zeros_like(l2)
    for j in range(len(l1_classes)):
        cols = parent == j
        if cols.any():
            within = l2[:, cols]
            out[:, cols] = l1[:, [j]] * within / np.maximum(within.sum(axis=1, keepdims=True), 1e-12)
    return out
