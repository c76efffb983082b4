"""The same-matter probability of a query and one of its candidates: a logistic regression over what the index
computes per candidate anyway (docs/BENCHMARKS.md, similar items, round 4).

The coefficients were fitted by ``bench/similar_fit.py`` on the dev half of the labelled set (bench/similar/)
among a realistic background of ~18k items; refit them there and paste its output into ``COEFFICIENTS``. The
query-level terms (its background, the spread of its candidates' similarities, a candidate's rank among them)
let the model judge a similarity against the query's own neighbourhood, whatever the size of the index."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FEATURES = ("dense", "sparse", "jaccard", "background", "log_rank", "town_differs", "town_shared",
            "fine_differs", "fine_shared", "log_query_len", "log_candidate_len", "z")
# bench/similar_fit.py (dev half, 18,936 items indexed), C = 1.0
COEFFICIENTS = {"dense": 3.149, "sparse": 0.428, "jaccard": -1.814, "background": 0.809, "log_rank": -1.365,
                "town_differs": -2.171, "town_shared": 0.215, "fine_differs": -2.439, "fine_shared": 1.078,
                "log_query_len": 0.626, "log_candidate_len": -1.449, "z": 0.311}
INTERCEPT = -0.195
SPREAD_RANKS = (10, 50)  # the candidates whose mean and spread a similarity is measured against (``z``)
SPREAD_PRIOR = (0.2, 0.05)  # their mean and spread where a small index has too few of them
MIN_SPREAD = 0.02


@dataclass(frozen=True)
class Candidates:
    """What the index knows of a query's candidates, one entry per candidate (same order everywhere)."""

    dense: np.ndarray  # cosine of the projected vectors
    sparse: np.ndarray  # cosine of the TF-IDF rows
    jaccard: np.ndarray  # estimated Jaccard similarity of character 3-shingles
    places: Sequence[tuple[float, float]]  # ``place_overlap``: (fine, town), 1 shared, 0 different, 0.5 unknown
    query_len: int  # characters of the query's matter text
    candidate_len: np.ndarray  # characters of each candidate's matter text


def spread(mixed: np.ndarray) -> tuple[float, float]:
    """Mean and spread (standard deviation) of the candidates ranked 10th to 50th by ``mixed`` similarity."""
    low, high = SPREAD_RANKS
    tail = np.sort(mixed)[::-1][low:high]
    if len(tail) <= 2:
        return SPREAD_PRIOR
    return float(tail.mean()), max(float(tail.std()), MIN_SPREAD)


def features(c: Candidates, background: float) -> np.ndarray:
    """The model's input, one row per candidate, columns in ``FEATURES`` order; ``background``: the query's
    background similarity (``index.background`` of the mixed similarities)."""
    mixed = (c.dense + c.sparse) / 2
    rank = np.empty(len(mixed))
    rank[np.argsort(-mixed, kind="stable")] = np.arange(len(mixed))
    mean, sd = spread(mixed)
    fine = np.array([p[0] for p in c.places], dtype=np.float64)
    town = np.array([p[1] for p in c.places], dtype=np.float64)
    n = len(mixed)
    columns = [c.dense, c.sparse, c.jaccard, np.full(n, background), np.log1p(rank), town == 0.0, town == 1.0,
               fine == 0.0, fine == 1.0, np.full(n, math.log(c.query_len + 1)), np.log(c.candidate_len + 1.0),
               (mixed - mean) / sd]
    return np.column_stack([np.asarray(col, dtype=np.float64) for col in columns]) if n else np.zeros((0, 12))


def probability(x: np.ndarray, coefficients: dict[str, float] | None = None,
                intercept: float | None = None) -> np.ndarray:
    """The same-matter probability of each row of ``features``."""
    weights = np.array([(coefficients or COEFFICIENTS)[name] for name in FEATURES])
    logit = x @ weights + (INTERCEPT if intercept is None else intercept)
    return np.asarray(1.0 / (1.0 + np.exp(-logit)))
