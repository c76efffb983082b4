"""Sparse TF-IDF rows in plain numpy: what serving a few items needs, without importing scipy (its import pulls in
numpy.f2py, numpy.ma and numpy.testing through its array-API layer: about a quarter of a second of CPU, a quarter
of `sqmy classify`'s start-up).

``SparseRows`` holds CSR arrays (``data``, ``indices``, ``indptr``, ``shape``), columns ascending within a row.
Its product with a dense matrix adds each row's terms in ascending column order, which is the order scipy's CSC
product adds them in, so the scores are the same bit for bit whichever path computed them; a large batch goes
through scipy (``tocsc``), where reading each weight row once per batch is about twice as fast. A few rows go
through scipy's CSR kernel when scipy is loaded already (the HTTP service imports it anyway): the same sums in the
same order, without the numpy loop's temporary arrays, about twice as fast for 2–15 rows (#18 round 6)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SCIPY_FROM_ROWS = 16  # from this many rows on, the product goes through scipy's CSC kernel


@dataclass
class SparseRows:
    """A CSR matrix of float32 values (duplicates summed, columns sorted within each row)."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @classmethod
    def from_occurrences(cls, indices: np.ndarray, indptr: np.ndarray, n_columns: int) -> SparseRows:
        """Counts of each column per row from one entry per occurrence (``csr_matrix(...).sum_duplicates()``)."""
        n_rows = len(indptr) - 1
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr))
        keys, counts = np.unique(rows * n_columns + indices.astype(np.int64), return_counts=True)
        out_indptr = np.zeros(n_rows + 1, dtype=np.int64)
        out_indptr[1:] = np.cumsum(np.bincount(keys // n_columns, minlength=n_rows))
        return cls(counts.astype(np.float32), (keys % n_columns).astype(np.int32), out_indptr, (n_rows, n_columns))

    @classmethod
    def hstack(cls, blocks: Sequence[SparseRows]) -> SparseRows:
        """The blocks side by side (same rows; each block's columns after the previous block's)."""
        n_rows = blocks[0].shape[0]
        offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
        lengths = np.stack([np.diff(b.indptr) for b in blocks], axis=1)  # (rows, blocks)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(lengths.sum(axis=1), out=indptr[1:])
        order = np.argsort(np.concatenate([np.repeat(np.arange(n_rows), np.diff(b.indptr)) for b in blocks]),
                           kind="stable")  # row by row, each row's blocks in order: columns stay ascending
        data = np.concatenate([b.data for b in blocks])[order]
        indices = np.concatenate([b.indices.astype(np.int64) + offset
                                  for b, offset in zip(blocks, offsets[:-1], strict=True)])[order]
        return cls(data, indices.astype(np.int32), indptr, (n_rows, int(offsets[-1])))

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def __matmul__(self, dense: np.ndarray) -> np.ndarray:
        """``self @ dense`` (``dense`` of shape ``(n_columns, k)``), each row's terms added in column order."""
        if self.shape[0] >= SCIPY_FROM_ROWS:
            return np.asarray(self.tocsc() @ dense)
        if "scipy.sparse" in sys.modules:  # loaded already: its CSR kernel costs no import
            return np.asarray(self.tocsr() @ dense)
        return self.numpy_product(dense)

    def numpy_product(self, dense: np.ndarray) -> np.ndarray:
        """``self @ dense`` in numpy alone, row by row (what a process without scipy loaded computes)."""
        dense = np.asarray(dense)
        out = np.zeros((self.shape[0], dense.shape[1]), dtype=np.result_type(self.data, dense))
        for row in range(self.shape[0]):
            lo, hi = self.indptr[row], self.indptr[row + 1]
            if hi > lo:  # axis-0 reduction: the terms added one after another, as the CSC kernel adds them
                out[row] = np.add.reduce(self.data[lo:hi, None] * dense[self.indices[lo:hi]], axis=0)
        return out

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.data.dtype)
        out[np.repeat(np.arange(self.shape[0]), self.row_lengths()), self.indices] = self.data
        return out

    def tocsr(self) -> Any:
        """The same matrix as a ``scipy.sparse.csr_matrix`` (imports scipy)."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    def tocsc(self) -> Any:
        return self.tocsr().tocsc()
