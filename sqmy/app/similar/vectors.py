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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from sqmy.core.text import join_title

NUM_PERM = 64  # MinHash permutations: 64 × 4 bytes per item
SHINGLE = 3  # characters per shingle
PROJECTION_VERSION = 1
_NOISE = re.compile(r"[^\w\u4e00-\u9fff]+")
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


def _runs(lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in the concatenated texts where a ``width``-gram starts inside its own text, and how many per
    text (texts of ``lengths`` characters, one after another)."""
    counts = np.maximum(lengths - width + 1, 0)
    starts = np.cumsum(lengths) - lengths
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets, counts


def _batch_grams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Character 1- and 2-grams of every text as integers (a 2-gram is ``(first + 1) << 21 | second``, past every
    1-gram) and the text each belongs to: one pass over the whole batch."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = _codes("".join(texts))
    pairs, pair_counts = _runs(lengths, 2)
    grams = np.concatenate([codes, ((codes[pairs] + 1) << _BITS) | codes[pairs + 1]])
    rows = np.arange(len(texts))
    return grams, np.concatenate([np.repeat(rows, lengths), np.repeat(rows, pair_counts)])


def _grams(text: str) -> np.ndarray:
    """Character 1- and 2-grams of one text (``_batch_grams``)."""
    return _batch_grams([text])[0]


# MinHash (format 2): h_p(x) = high 32 bits of (a_p·x + b_p) mod 2^64 (multiply-add-shift, a_p odd) over whole
# character 3-shingles; the minimum of the 64-bit values is taken first (the shift keeps the order). Half the work of
# datasketch's (a·x + b) mod (2^61 − 1), and no division; measured against true Jaccard in tests/app.
_RNG = np.random.RandomState(2)
_A = _RNG.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _RNG.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64)
_CHUNK = 8192  # shingles hashed at once: (8192 × 64) 64-bit values stay in cache


def _shingles(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every text's ``SHINGLE``-grams as 63-bit integers, concatenated, and how many per text (a text shorter
    than a shingle is padded with NULs: one shingle)."""
    texts = [t if len(t) >= SHINGLE else t.ljust(SHINGLE, "\0") for t in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = _codes("".join(texts)).astype(np.uint64)
    where, counts = _runs(lengths, SHINGLE)
    value = codes[where]
    for i in range(1, SHINGLE):
        value = (value << np.uint64(_BITS)) | codes[where + i]
    return value, counts


def signatures(texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures of normalised item texts, one ``uint32`` row of ``NUM_PERM`` per text; the batch is
    hashed in chunks of whole texts."""
    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    if not texts:
        return out
    values, counts = _shingles(texts)
    ends = np.cumsum(counts)
    row = 0
    while row < len(texts):
        first = int(ends[row] - counts[row])
        stop = max(int(np.searchsorted(ends, first + _CHUNK, side="right")), row + 1)
        hashed = values[first:ends[stop - 1], None] * _A
        hashed += _B
        out[row:stop] = np.minimum.reduceat(hashed, ends[row:stop] - counts[row:stop] - first, axis=0) >> 32
        row = stop
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature ``a`` (one row) with each row of ``b``."""
    return np.asarray((b == a).mean(axis=-1), dtype=np.float32)


class _Lookup:
    """Gram integer → vocabulary column (−1 when absent): an open-addressing table in NumPy, a few vectorised
    probes per batch instead of a binary search per gram."""

    def __init__(self, vocabulary: np.ndarray) -> None:
        self.bits = max(4, int(np.ceil(np.log2(max(len(vocabulary), 1) * 3))))
        self.keys = np.full(1 << self.bits, -1, dtype=np.int64)
        self.cols = np.full(1 << self.bits, -1, dtype=np.int64)
        pending, cols = vocabulary.astype(np.int64), np.arange(len(vocabulary))
        slot = self._slot(pending)
        while len(pending):
            self.keys[slot] = pending  # several keys may land on one free slot: one wins, the rest probe on
            won = self.keys[slot] == pending
            self.cols[slot[won]] = cols[won]
            pending, cols, slot = pending[~won], cols[~won], self._next(slot[~won])
            taken = self.keys[slot] != -1
            while taken.any():
                slot[taken] = self._next(slot[taken])
                taken = self.keys[slot] != -1

    def _slot(self, grams: np.ndarray) -> np.ndarray:
        mixed = grams.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        return (mixed >> np.uint64(64 - self.bits)).astype(np.int64)

    def _next(self, slot: np.ndarray) -> np.ndarray:
        return (slot + 1) & ((1 << self.bits) - 1)

    def __call__(self, grams: np.ndarray) -> np.ndarray:
        out = np.full(len(grams), -1, dtype=np.int64)
        todo = np.arange(len(grams))
        slot = self._slot(grams)
        while len(todo):
            found = self.keys[slot]
            hit = found == grams[todo]
            out[todo[hit]] = self.cols[slot[hit]]
            going = ~hit & (found != -1)
            todo, slot = todo[going], self._next(slot[going])
        return out


def _counts(texts: Sequence[str], lookup: _Lookup, size: int) -> sparse.csr_matrix:
    """Term counts of the texts over the vocabulary (``lookup``: gram → column); unknown grams are dropped."""
    grams, rows = _batch_grams(texts)
    cols = lookup(grams)
    known = cols >= 0
    data = np.ones(int(known.sum()), dtype=np.float32)
    matrix = sparse.csr_matrix((data, (rows[known], cols[known])), shape=(len(texts), size))
    matrix.sum_duplicates()
    return matrix


@dataclass
class Projection:
    """Character TF-IDF (sublinear tf, smooth idf) → ``dim`` dimensions (SVD), L2-normalised; fitted once."""

    vocabulary: np.ndarray  # sorted gram integers (int64)
    idf: np.ndarray  # float32, one per vocabulary entry
    components: np.ndarray  # (dim, vocabulary) float32
    _lookup: _Lookup | None = field(default=None, init=False, repr=False)

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
        from sklearn.decomposition import TruncatedSVD  # lazy: 2 s of imports a server with SQMY_SIMILAR=off skips

        svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=3, random_state=0).fit(matrix)
        projection.components = svd.components_.astype(np.float32)
        return projection

    def tfidf(self, texts: Sequence[str], *, prepared: bool = False) -> sparse.csr_matrix:
        """The sparse, L2-normalised TF-IDF rows of normalised item texts (boilerplate dropped; ``prepared``: the
        texts are ``matter_text`` already)."""
        if self._lookup is None:
            self._lookup = _Lookup(self.vocabulary)
        matrix = _counts(texts if prepared else [matter_text(t) for t in texts], self._lookup, len(self.vocabulary))
        matrix.data = np.log1p(matrix.data) * self.idf[matrix.indices]
        rows = np.repeat(np.arange(len(texts)), np.diff(matrix.indptr))
        norms = np.sqrt(np.bincount(rows, weights=matrix.data.astype(np.float64) ** 2, minlength=len(texts)))
        matrix.data /= np.maximum(norms, 1e-9)[rows].astype(np.float32)
        return matrix

    def cosines(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The cosine of ``query``'s TF-IDF row with each of ``texts``' (all ``matter_text`` already): the same
        figures as ``tfidf`` rows multiplied, in NumPy alone — a query compares itself with ~50 candidates, and
        building and multiplying sparse matrices cost most of that (docs/BENCHMARKS.md, similar items, round 8)."""
        if not texts:
            return np.zeros(0)
        if self._lookup is None:
            self._lookup = _Lookup(self.vocabulary)
        grams, rows = _batch_grams([query, *texts])
        cols = self._lookup(grams)
        known = cols >= 0
        size = len(self.vocabulary)
        cells, counts = np.unique(rows[known] * size + cols[known], return_counts=True)
        row, col = cells // size, cells % size
        weight = np.log1p(counts.astype(np.float64)) * self.idf[col]
        norms = np.sqrt(np.bincount(row, weights=weight ** 2, minlength=len(texts) + 1))
        mine = row == 0
        dense_query = np.zeros(size)
        dense_query[col[mine]] = weight[mine] / max(norms[0], 1e-9)
        dots = np.bincount(row[~mine], weights=weight[~mine] * dense_query[col[~mine]], minlength=len(texts) + 1)
        return np.asarray(dots[1:] / np.maximum(norms[1:], 1e-9), dtype=np.float64)

    def transform(self, texts: Sequence[str], *, prepared: bool = False) -> np.ndarray:
        """Dense, L2-normalised ``float32`` vectors of normalised item texts (``prepared``: as in ``tfidf``)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        dense = np.asarray(self.tfidf(texts, prepared=prepared) @ self.components.T, dtype=np.float32)
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
