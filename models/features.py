"""TF-IDF features: fitted with scikit-learn's TfidfVectorizer, applied by a faster transform of their own.

Fitting keeps only what the transform needs, per block (jieba words, character n-grams): the vocabulary and the
idf weights. They are saved as JSON (the terms, in column order) and ``.npy`` (the weights), so that loading
neither imports scikit-learn nor unpickles dictionaries in Python. scikit-learn's transform counts tokens with
per-token Python dict updates; here token ids are looked up with ``map(vocabulary.get, …)`` and counted by scipy
in C, which is faster and gives identical matrices (a test checks parity)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sqmy.core.text import chars, words
from sqmy.models.sparse_rows import SparseRows
from sqmy.models.term_index import CharGramIndex, WordGramIndex

BLOCKS: dict[str, Callable[[str], list[str]]] = {"words": words, "chars": chars}  # in column order
BULK = 16  # from this many texts on, terms are looked up with numpy (building the index costs ~0.1 s, once)
VOCABULARY_NAME = "vocabulary.json"
IDF_NAME = "idf.npy"


class TextFeatures:
    """Word (jieba uni+bigrams) and character (1–3-gram) TF-IDF blocks, each L2-normalised, side by side.

    Attributes
    ----------
    vocabularies_ : list of dict
        Per block, term → column within the block.
    idfs_ : list of ndarray of shape (n_block_features,)
        Per block, the idf weight of each column (float32).
    """

    def __init__(self, *, min_df: int = 2, max_features: int | None = 60_000) -> None:
        self.min_df = min_df
        self.max_features = max_features

    def fit_transform(self, texts: Sequence[str]) -> Any:
        """Fit the vocabularies and idf weights; the training matrix as a ``scipy.sparse.csr_matrix``."""
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vocabularies_: list[dict[str, int]] = []
        self.idfs_: list[np.ndarray] = []
        blocks = []
        for analyzer in BLOCKS.values():
            vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=self.min_df,
                                  max_features=self.max_features, dtype=np.float32)
            try:
                blocks.append(vec.fit_transform(texts))
            except ValueError:  # min_df left no vocabulary (a tiny corpus): keep every term
                vec.set_params(min_df=1)
                blocks.append(vec.fit_transform(texts))
            self._keep(vec.vocabulary_, vec.idf_)
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _keep(self, vocabulary: dict[str, Any], idf: np.ndarray) -> None:
        self.vocabularies_.append({term: int(column) for term, column in vocabulary.items()})
        self.idfs_.append(np.asarray(idf).astype(np.float32))

    @classmethod
    def from_vectorizers(cls, vectorizers: Sequence[Any], *, min_df: int, max_features: int | None) -> TextFeatures:
        """The features of a model saved before this format (fitted ``TfidfVectorizer`` objects, words first)."""
        features = cls(min_df=min_df, max_features=max_features)
        features.vocabularies_, features.idfs_ = [], []
        for vec in vectorizers:
            features._keep(vec.vocabulary_, vec.idf_)
        return features

    @property
    def n_features(self) -> int:
        return sum(len(v) for v in self.vocabularies_)

    def transform(self, texts: Sequence[str]) -> SparseRows:
        """The TF-IDF rows of ``texts`` (``TfidfVectorizer.transform`` of each block, side by side)."""
        blocks = []
        for k, (name, vocabulary, idf) in enumerate(zip(BLOCKS, self.vocabularies_, self.idfs_, strict=True)):
            index = self._index(k) if len(texts) >= BULK else None
            indices, indptr = index.lookup(texts) if index is not None else _lookup(BLOCKS[name], vocabulary, texts)
            blocks.append(_tfidf(indices, indptr, len(vocabulary), idf))
        return SparseRows.hstack(blocks)

    def _index(self, block: int) -> CharGramIndex | WordGramIndex | None:
        """The block's vocabulary as a numpy lookup (``sqmy.models.term_index``), built on first use and not saved;
        ``None`` for a vocabulary it cannot represent (then terms are looked up one by one)."""
        indexes: dict[int, CharGramIndex | WordGramIndex | None] = self.__dict__.setdefault("_indexes", {})
        if block not in indexes:
            kind: type[CharGramIndex | WordGramIndex] = CharGramIndex if list(BLOCKS)[block] == "chars" \
                else WordGramIndex
            try:
                indexes[block] = kind(self.vocabularies_[block])
            except ValueError:
                indexes[block] = None
        return indexes[block]

    def save(self, path: Path) -> None:
        terms = {name: _terms(vocabulary) for name, vocabulary in zip(BLOCKS, self.vocabularies_, strict=True)}
        (path / VOCABULARY_NAME).write_bytes(orjson.dumps(terms))
        np.save(path / IDF_NAME, np.concatenate(self.idfs_), allow_pickle=False)

    def state(self) -> dict[str, Any]:
        """The parameters, for the engine's JSON (the arrays are in their own files)."""
        return {"min_df": self.min_df, "max_features": self.max_features}

    @classmethod
    def load(cls, path: Path, state: dict[str, Any]) -> TextFeatures:
        features = cls(min_df=state["min_df"], max_features=state["max_features"])
        terms = orjson.loads((path / VOCABULARY_NAME).read_bytes())
        idf = np.load(path / IDF_NAME, allow_pickle=False)
        features.vocabularies_, features.idfs_, start = [], [], 0
        for name in BLOCKS:
            block = terms[name]
            features.vocabularies_.append(dict(zip(block, range(len(block)), strict=True)))
            features.idfs_.append(idf[start:start + len(block)])
            start += len(block)
        return features


def _terms(vocabulary: dict[str, int]) -> list[str]:
    """The terms in column order (a vocabulary's columns are 0 … n-1)."""
    out = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        out[column] = term
    return out


def _lookup(analyzer: Callable[[str], list[str]], vocabulary: dict[str, int],
            texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, indptr)`` of the analyzer's terms found in ``vocabulary``, one entry per occurrence."""
    get = vocabulary.get
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend([i for i in map(get, analyzer(text)) if i is not None])
        indptr.append(len(indices))
    return np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)


def _tfidf(indices: np.ndarray, indptr: np.ndarray, n_columns: int, idf: np.ndarray) -> SparseRows:
    """Sublinear tf × idf, L2-normalised rows, from term occurrences: ``TfidfVectorizer(sublinear_tf=True)``'s
    transform."""
    x = SparseRows.from_occurrences(indices, indptr, n_columns)
    np.log(x.data, out=x.data)
    x.data += 1
    x.data *= idf[x.indices]
    _normalize_rows(x)
    return x


def _normalize_rows(x: SparseRows) -> None:
    """Scale each row to unit L2 norm in place, with the arithmetic of ``sklearn.preprocessing.normalize``
    (float32 squares summed in float64, row by row; the division in float64): the same matrix, bit for bit."""
    if not x.nnz:
        return
    lengths = np.diff(x.indptr)
    nonempty = lengths > 0
    sums = np.zeros(x.shape[0])
    sums[nonempty] = np.add.reduceat((x.data * x.data).astype(np.float64), x.indptr[:-1][nonempty])
    norms = np.sqrt(sums)
    norms[norms == 0] = 1.0
    x.data[:] = x.data / np.repeat(norms, lengths)
