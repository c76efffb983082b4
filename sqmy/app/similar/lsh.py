"""MinHash LSH over signature bands, held in NumPy arrays (format 3 of the index; format 2 used ``datasketch``'s
``MinHashLSH`` and pickled it with every snapshot).

The banding is ``datasketch``'s for the same threshold and permutations (``b`` bands of ``r`` rows, chosen by its
``_optimal_param``), so the same pairs collide. Each band of each item is one 64-bit hash; the hashes live in a sorted
array per insertion, merged as in a log-structured merge tree (``BandLSH``), so adding costs no Python per item and
a query a few binary searches. Nothing is persisted:
the signatures are in the store, and rebuilding the tables of 100,000 items takes a fraction of a second."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)


def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` as ``datasketch.MinHashLSH`` chooses them (equal weight to false positives and negatives)."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


class BandLSH:
    """Keys (``int``) by their MinHash signature; ``query`` gives the keys sharing at least one band.

    The band hashes are kept in sorted runs (a log-structured merge): each insertion adds a run, and the last two
    runs are merged while the newer is at least half the older, so there are O(log n) runs, an entry is re-sorted
    O(log n) times, and a query is two ``searchsorted`` per run."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.bands, self.rows = band_params(threshold, num_perm)
        rng = np.random.RandomState(11)
        self._coef = rng.randint(1, 1 << 62, size=(self.bands, self.rows), dtype=np.uint64) * np.uint64(2) + 1
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their keys), oldest and largest first
        self._keys: set[int] = set()
        self._removed: set[int] = set()  # removed keys whose hashes are still in a run

    def hashes(self, signatures: np.ndarray) -> np.ndarray:
        """``(n, bands)`` 64-bit hashes of the signatures' bands (the band number is in the coefficients)."""
        sig = np.asarray(signatures, dtype=np.uint64)[:, :self.bands * self.rows].reshape(-1, self.bands, self.rows)
        with np.errstate(over="ignore"):
            value: np.ndarray = (sig * self._coef).sum(axis=2, dtype=np.uint64)
            value ^= value >> np.uint64(31)
            value *= _MIX
            value += np.arange(self.bands, dtype=np.uint64)  # two bands of equal rows never share a hash
        return value

    def insert(self, keys: Iterable[int] | np.ndarray, signatures: np.ndarray) -> None:
        """Add items (keys not already present: an item is added once)."""
        keys = np.asarray(keys, dtype=np.int64)
        if not len(keys):
            return
        hashed = self.hashes(signatures).ravel()
        order = np.argsort(hashed, kind="stable")
        self._runs.append((hashed[order], np.repeat(keys, self.bands)[order]))
        self._keys.update(keys.tolist())
        self._removed.difference_update(keys.tolist())
        while len(self._runs) > 1 and 2 * len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            self._merge_last()

    def _merge_last(self) -> None:
        """The last two runs as one (removed keys leave when the merge covers every run)."""
        (h1, k1), (h2, k2) = self._runs[-2], self._runs[-1]
        h, k = np.concatenate([h1, h2]), np.concatenate([k1, k2])
        if self._removed and len(self._runs) == 2:
            alive = ~np.isin(k, np.fromiter(self._removed, dtype=np.int64))
            h, k = h[alive], k[alive]
            self._removed.clear()
        order = np.argsort(h, kind="stable")
        self._runs[-2:] = [(h[order], k[order])]

    def query(self, signature: np.ndarray) -> list[int]:
        """The keys that share a band with ``signature`` (one row)."""
        wanted = self.hashes(np.asarray(signature).reshape(1, -1))[0]
        found = []
        for hashes, keys in self._runs:
            left = np.searchsorted(hashes, wanted, side="left")
            right = np.searchsorted(hashes, wanted, side="right")
            found += [keys[a:b] for a, b in zip(left.tolist(), right.tolist(), strict=True) if b > a]
        if not found:
            return []
        out = np.unique(np.concatenate(found)).tolist()
        return [k for k in out if k not in self._removed] if self._removed else out

    def remove(self, key: int) -> None:
        """Take ``key`` out (queries skip it at once; its hashes go at the next merge of every run)."""
        if key in self._keys:
            self._keys.discard(key)
            self._removed.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
