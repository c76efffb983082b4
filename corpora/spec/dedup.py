"""Near-duplicate detection with character-shingle MinHash (LSH candidates, exact Jaccard confirmation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH


def shingles(text: str, k: int = 5) -> set[str]:
    text = "".join(text.split())
    return {text[i:i + k] for i in range(max(1, len(text) - k + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def near_duplicates(texts: Sequence[str], *, threshold: float = 0.8, k: int = 5,
                    num_perm: int = 128) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, jaccard)`` with character ``k``-shingle Jaccard ≥ ``threshold``, ``i < j``."""
    sets = [shingles(t, k) for t in texts]
    lsh = MinHashLSH(threshold=threshold * 0.8, num_perm=num_perm)  # generous: LSH only proposes candidates
    hashes = MinHash.bulk([[s.encode() for s in shingle_set] for shingle_set in sets], num_perm=num_perm, seed=1)
    pairs = set()
    for i, minhash in enumerate(hashes):
        for j in lsh.query(minhash):
            pairs.add((min(i, j), max(i, j)))
        lsh.insert(i, minhash)
    found = [(i, j, jaccard(sets[i], sets[j])) for i, j in sorted(pairs)]
    return [(i, j, round(score, 3)) for i, j, score in found if score >= threshold]


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    lengths = np.array([len(t) for t in texts])
    return {"min": int(lengths.min()), "p10": float(np.percentile(lengths, 10)),
            "median": float(np.median(lengths)), "mean": round(float(lengths.mean()), 1),
            "p90": float(np.percentile(lengths, 90)), "max": int(lengths.max())}
