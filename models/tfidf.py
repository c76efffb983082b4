"""TF-IDF engine: jieba word n-grams + character n-grams, linear SVMs, calibrated probabilities.

Serving needs numpy and rjieba only (scipy.sparse for batches of 16 or more): scikit-learn is imported to fit,
and to read a model saved in the earlier pickled format
(``sqmy.models.tfidf_artifact`` reads and writes the artifact)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.core.text import join_title
from sqmy.models import tfidf_artifact
from sqmy.models.base import Doc, Engine, HeadProbabilities, Targets, check_docs, hierarchical_l2
from sqmy.models.features import TextFeatures
from sqmy.models.metadata import read_metadata, write_metadata
from sqmy.models.sparse_rows import SparseRows
from sqmy.models.tfidf_artifact import Artifact
from sqmy.models.tfidf_heads import Level3Head, MulticlassHead, MultilabelHead  # old pickles find them here

HEAD_ATTRS = ("topic_l1_", "topic_l2_", "lead_", "involved_", "topic_l3_")  # order of the stacked weights


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

    def _transform(self, docs: Sequence[Doc]) -> SparseRows:
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
        import sklearn

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

    def scores(self, x: SparseRows) -> np.ndarray:
        """Every head's linear scores ``x @ W + b``, columns as ``slices_`` (a batch column by column through
        scipy's CSC kernel, where each row of ``W`` is read once per batch: 2x faster on 256 items; a few items
        in numpy, without importing scipy; the same sums in the same order either way)."""
        out: np.ndarray = (x @ self.weights_) + self.bias_
        return out

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        if not self.__sklearn_is_fitted__():
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(self)  # raises scikit-learn's NotFittedError
        scores = self.scores(self._transform(docs))
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

    def _artifact(self) -> Artifact:
        heads = {name: getattr(self, name) for name in HEAD_ATTRS}
        return Artifact(self.get_params(), self.features_, heads, self.weights_, self.bias_, self.slices_)

    def save(self, path: Path) -> Path:
        """Write the artifact (``sqmy.models.tfidf_artifact``: JSON and ``.npy``, no pickle) and the metadata."""
        if not self.__sklearn_is_fitted__():
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(self)
        path = Path(path)
        tfidf_artifact.write(self._artifact(), path)
        write_metadata(path, self.metadata_)
        return path

    @classmethod
    def load(cls, path: Path) -> TfidfEngine:
        """Load a saved engine; one saved in the earlier pickled format is converted (and rewritten beside it)."""
        path = Path(path)
        metadata = read_metadata(path)
        if tfidf_artifact.is_legacy(path):
            engine = cls._from_pickle(tfidf_artifact.read_legacy(path, metadata), path)
            tfidf_artifact.convert_in_place(engine._artifact(), path)
        else:
            saved = tfidf_artifact.read(path)
            engine = cls(**saved.params)
            engine.features_, engine.slices_, engine.bias_ = saved.features, saved.slices, saved.bias
            engine.weights_ = saved.weights
            for name in HEAD_ATTRS:
                engine._set_head(name, saved.heads.get(name))
        engine.metadata_ = metadata
        return engine

    def _set_head(self, name: str, head: Any) -> None:
        setattr(self, name, head)
        setattr(self, name[:-1] + "_classes_", list(head.classes_) if head is not None else [])

    @classmethod
    def _from_pickle(cls, engine: Any, path: Path) -> TfidfEngine:
        """An engine unpickled from the earlier format, brought to the current attributes."""
        if not isinstance(engine, cls):
            raise TypeError(f"{path}: {tfidf_artifact.LEGACY_NAME} holds a {type(engine).__name__}, not a "
                            f"{cls.__name__}")
        engine.__dict__.pop("_sklearn_version", None)  # scikit-learn's pickle marker (engines were estimators)
        for name in HEAD_ATTRS:  # models saved before level 3 have no topic_l3_
            if not hasattr(engine, name):
                engine._set_head(name, None)
        old = engine.features_
        engine.features_ = TextFeatures.from_vectorizers(vars(old)["vectorizers_"], min_df=old.min_df,
                                                         max_features=old.max_features)
        return engine
