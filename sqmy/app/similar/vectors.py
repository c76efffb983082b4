"""What the similarity index stores per item: a dense vector for same-matter search and a MinHash signature of
character shingles for near-duplicates.

The dense vector is character 1-/2-gram TF-IDF reduced by a truncated SVD fitted once on a corpus (the bundled
``corpora/`` by default) and kept under ``SQMY_HOME/similar/projection`` as plain arrays. N-grams are integers
built from code points, so a whole batch is vectorised with NumPy (no per-gram Python): cheap enough to add
thousands of items a second on two cores (docs/BENCHMARKS.md compares it with the e5 encoder)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasketch import MinHash
from scipy import sparse
from sklearn.decomposition import TruncatedSVD

from sqmy.core.text import join_title

NUM_PERM = 64  # MinHash permutations: 64 × 4 bytes per item
SHINGLE = 3  # characters per shingle
PROJECTION_VERSION = 1
_NOISE = re.compile(r"[^\w\u4e00-\u9fff]+")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_BITS = 21  # a code point fits in 21 bits


# What every genre says whatever the matter (12345 operators' formulas, greetings, the asks): left out of the vectors,
# it made unrelated hotline orders look alike (bench/similar_eval.py measures it).
_BOILERPLATE = re.compile(
    "市民来电反映|来电人|要求相关部门|相关部门|有关部门|尊敬的领导|领导|您好|你好|谢谢|案由|市民|来电|要求|希望|建议|"
    "请|尽快|反映|关于|问题|情况|处理|解决|进行|目前|部门|我们|一下|能不能|什么时候|怎么办|的|了|是|在|和|有|都|也|就")


def item_text(title: str, text: str) -> str:
    """The normalised text an item is compared by: title first, then the body, punctuation and spaces dropped."""
    return _NOISE.sub("", join_title(title or "", text or ""))


def matter_text(normalised: str) -> str:
    """What the vectors see of an ``item_text``: without the formulas every genre repeats."""
    return _BOILERPLATE.sub("", normalised)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _grams(text: str) -> np.ndarray:
    """Character 1- and 2-grams as integers (a 2-gram is ``first << 21 | second``, offset past every 1-gram)."""
    codes = _codes(text)
    return np.concatenate([codes, ((codes[:-1] + 1) << _BITS) | codes[1:]])


def _shingle_values(text: str) -> np.ndarray:
    """Character ``SHINGLE``-grams as 63-bit integers (the whole text when shorter)."""
    codes = _codes(text) if text else np.zeros(1, dtype=np.int64)
    if len(codes) < SHINGLE:
        codes = np.pad(codes, (0, SHINGLE - len(codes)))
    value = np.zeros(len(codes) - SHINGLE + 1, dtype=np.int64)
    for i in range(SHINGLE):
        value = (value << _BITS) | codes[i:len(codes) - SHINGLE + 1 + i]
    return np.unique(value)


_RNG = np.random.RandomState(1)  # datasketch's scheme: h(x) = (a·x + b) mod (2^61 − 1), kept to 32 bits
_A = _RNG.randint(1, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)
_B = _RNG.randint(0, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)


def signatures(texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures of normalised item texts, one ``uint32`` row of ``NUM_PERM`` per text."""
    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    for row, text in enumerate(texts):
        values = (_shingle_values(text).astype(np.uint64) & _MAX_HASH)[:, None]
        out[row] = (((values * _A + _B) % _MERSENNE) & _MAX_HASH).min(axis=0)
    return out


def minhash(signature: np.ndarray) -> MinHash:
    """The datasketch object of a stored signature (what the LSH index takes): the "legacy" scheme, (a·x + b) mod
    (2^61 − 1), is the one ``signatures`` computes."""
    return MinHash(num_perm=NUM_PERM, hashvalues=signature.astype(np.uint64), scheme="legacy")


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature ``a`` (one row) with each row of ``b``."""
    return np.asarray((b == a).mean(axis=-1), dtype=np.float32)


def _counts(texts: Sequence[str], vocabulary: np.ndarray) -> sparse.csr_matrix:
    """Term counts of the texts over ``vocabulary`` (sorted gram integers); unknown grams are dropped."""
    grams = [_grams(t) for t in texts]
    rows = np.repeat(np.arange(len(texts)), [len(g) for g in grams])
    flat = np.concatenate(grams) if grams else np.zeros(0, dtype=np.int64)
    cols = np.searchsorted(vocabulary, flat)
    cols = np.minimum(cols, len(vocabulary) - 1)
    known = vocabulary[cols] == flat
    data = np.ones(int(known.sum()), dtype=np.float32)
    matrix = sparse.csr_matrix((data, (rows[known], cols[known])), shape=(len(texts), len(vocabulary)))
    matrix.sum_duplicates()
    return matrix


@dataclass
class Projection:
    """Character TF-IDF (sublinear tf, smooth idf) → ``dim`` dimensions (SVD), L2-normalised; fitted once."""

    vocabulary: np.ndarray  # sorted gram integers (int64)
    idf: np.ndarray  # float32, one per vocabulary entry
    components: np.ndarray  # (dim, vocabulary) float32

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def fit(cls, texts: Sequence[str], *, dim: int = 256, max_features: int = 40_000) -> Projection:
        """Fit on normalised item texts (``item_text``): the ``max_features`` grams found in most documents (at
        least two), their idf, and the SVD of the TF-IDF matrix."""
        unique = [np.unique(_grams(t)) for t in texts]
        grams, df = np.unique(np.concatenate(unique), return_counts=True)
        keep = np.argsort(-df, kind="stable")[:max_features]
        keep = keep[df[keep] >= 2]
        order = np.argsort(grams[keep])
        vocabulary, df = grams[keep][order], df[keep][order]
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        projection = cls(vocabulary, idf, np.zeros((0, len(vocabulary)), dtype=np.float32))
        matrix = projection.tfidf(texts)
        dim = max(1, min(dim, matrix.shape[1] - 1, matrix.shape[0] - 1))
        svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=3, random_state=0).fit(matrix)
        projection.components = svd.components_.astype(np.float32)
        return projection

    def tfidf(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The sparse, L2-normalised TF-IDF rows of normalised item texts (boilerplate dropped)."""
        matrix = _counts([matter_text(t) for t in texts], self.vocabulary)
        matrix.data = np.log1p(matrix.data)
        matrix = matrix.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        return sparse.diags(1 / np.maximum(norms, 1e-9)).dot(matrix).tocsr()

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Dense, L2-normalised ``float32`` vectors of normalised item texts."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        dense = np.asarray(self.tfidf(texts) @ self.components.T, dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return np.asarray(dense / np.maximum(norms, 1e-9), dtype=np.float32)

    def save(self, directory: Path) -> None:
        """Write the projection as ``.npy`` files, atomically: a second process fitting at the same time leaves
        one complete copy (``meta.json`` is written last and marks it)."""
        directory.mkdir(parents=True, exist_ok=True)
        suffix = f".tmp-{os.getpid()}"
        arrays = {"vocabulary": self.vocabulary, "idf": self.idf, "components": self.components.astype(np.float16)}
        for name, array in arrays.items():
            with open(directory / f"{name}.npy{suffix}", "wb") as handle:
                np.save(handle, array)
            os.replace(directory / f"{name}.npy{suffix}", directory / f"{name}.npy")
        (directory / f"meta.json{suffix}").write_text(json.dumps({"version": PROJECTION_VERSION, "dim": self.dim}))
        os.replace(directory / f"meta.json{suffix}", directory / "meta.json")

    @classmethod
    def load(cls, directory: Path) -> Projection | None:
        """The projection saved in ``directory``, or ``None`` when there is none (yet)."""
        if not (directory / "meta.json").is_file():
            return None
        return cls(np.load(directory / "vocabulary.npy"), np.load(directory / "idf.npy"),
                   np.load(directory / "components.npy").astype(np.float32))
