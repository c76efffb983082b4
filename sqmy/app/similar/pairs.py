"""The same-matter probability of a query and one of its candidates: a logistic regression over what the index
computes per candidate anyway (docs/BENCHMARKS.md, similar items, round 4).

The coefficients were fitted by ``bench/similar_fit.py`` on the dev half of the labelled set (bench/similar/)
among a realistic background of ~18k items; refit them there and paste its output into ``COEFFICIENTS``. The
query-level terms (its background, the spread of its candidates' similarities, a candidate's rank among them)
let the model judge a similarity against the query's own neighbourhood, whatever the size of the index.

Round 5: where embeddings by meaning exist (``meaning.py``), a second set of coefficients adds each candidate's rank
and relative similarity by meaning among the query's candidates (``MEANING_FEATURES``)."""

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
# Round 5: where the query and a candidate both have an embedding by meaning (``meaning.py``), the candidate's rank
# by meaning among the query's candidates that have one and its similarity relative to theirs (``z`` as above) join
# the features (the cosine itself added nothing measurable); the other candidates keep the model above.
MEANING_FEATURES = (*FEATURES, "meaning_log_rank", "meaning_z")
# bench/similar_fit.py --meaning (dev half, 18,936 items indexed and embedded, the 6-layer student e5-small-zh-s6-128,
# round 6: candidates include the 20 nearest by meaning), C = 1.0; the intercept is the fitted 0.58 moved so that
# the dev-chosen threshold 0.31 reads as the default 0.36: one ``SQMY_SIMILAR_THRESHOLD`` for both models
MEANING_COEFFICIENTS = {"dense": 2.463, "sparse": -1.282, "jaccard": -2.027, "background": 0.493, "log_rank": -0.519,
                        "town_differs": -2.437, "town_shared": -0.301, "fine_differs": -2.068, "fine_shared": 0.932,
                        "log_query_len": 1.073, "log_candidate_len": -1.661, "z": 0.236, "meaning_log_rank": -1.278,
                        "meaning_z": 0.914}
MEANING_INTERCEPT = 0.805
# Round 7: an encoder adapted to tell matters apart (``sqmy base-encoder --matter``: its ``meaning.json`` says
# ``"kind": "matter"``) ranks by meaning better and leans less on the rank by characters; bench/similar_fit.py
# --meaning (same set-up as round 6, the encoder e5-small-zh-s6-128-matter built on all 12,845 corpus items), C = 1.0;
# the fitted intercept 1.364 moved so that the dev-chosen threshold 0.25 reads as the default 0.36
MATTER_COEFFICIENTS = {"dense": 2.992, "sparse": -1.33, "jaccard": -1.67, "background": 0.521, "log_rank": -0.045,
                       "town_differs": -2.482, "town_shared": 0.345, "fine_differs": -2.155, "fine_shared": 0.903,
                       "log_query_len": 0.826, "log_candidate_len": -1.701, "z": 0.192, "meaning_log_rank": -1.901,
                       "meaning_z": 0.345}
MATTER_INTERCEPT = 1.887
MEANING_PRIOR = (0.8, 0.05)  # mean and spread of the meaning cosines where too few candidates have one
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
    meaning: np.ndarray | None = None  # cosine by meaning; NaN where the candidate has no embedding, None: no query's


def spread(mixed: np.ndarray, prior: tuple[float, float] = SPREAD_PRIOR) -> tuple[float, float]:
    """Mean and spread (standard deviation) of the candidates ranked 10th to 50th by ``mixed`` similarity."""
    low, high = SPREAD_RANKS
    tail = np.sort(mixed)[::-1][low:high]
    if len(tail) <= 2:
        return prior
    return float(tail.mean()), max(float(tail.std()), MIN_SPREAD)


def ranks(values: np.ndarray) -> np.ndarray:
    """0 for the highest value, 1 for the next…"""
    out = np.empty(len(values))
    out[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return out


def meaning_columns(meaning: np.ndarray) -> np.ndarray:
    """``log(1 + rank)`` and ``z`` by meaning of the candidates that have an embedding (rows of the others: NaN)."""
    out = np.full((len(meaning), 2), np.nan)
    present = ~np.isnan(meaning)
    if present.any():
        values = meaning[present]
        mean, sd = spread(values, MEANING_PRIOR)
        out[present, 0] = np.log1p(ranks(values))
        out[present, 1] = (values - mean) / sd
    return out


def features(c: Candidates, background: float) -> np.ndarray:
    """The model's input, one row per candidate, columns in ``FEATURES`` order; ``background``: the query's
    background similarity (``index.background`` of the mixed similarities)."""
    mixed = (c.dense + c.sparse) / 2
    rank = ranks(mixed)
    mean, sd = spread(mixed)
    fine = np.array([p[0] for p in c.places], dtype=np.float64)
    town = np.array([p[1] for p in c.places], dtype=np.float64)
    n = len(mixed)
    columns = [c.dense, c.sparse, c.jaccard, np.full(n, background), np.log1p(rank), town == 0.0, town == 1.0,
               fine == 0.0, fine == 1.0, np.full(n, math.log(c.query_len + 1)), np.log(c.candidate_len + 1.0),
               (mixed - mean) / sd]
    base = np.column_stack([np.asarray(col, dtype=np.float64) for col in columns]) if n else np.zeros((0, 12))
    if c.meaning is None:
        return base
    return np.hstack([base, meaning_columns(c.meaning)])


def meaning_model(kind: str = "") -> tuple[dict[str, float], float]:
    """The coefficients and intercept of the meaning model fitted for an encoder of this ``kind`` (``meaning.json``:
    ``"matter"`` for an encoder adapted to tell matters apart, empty for the plain student or any other)."""
    if kind == "matter":
        return MATTER_COEFFICIENTS, MATTER_INTERCEPT
    return MEANING_COEFFICIENTS, MEANING_INTERCEPT


def probability(x: np.ndarray, coefficients: dict[str, float] | None = None,
                intercept: float | None = None, *, kind: str = "") -> np.ndarray:
    """The same-matter probability of each row of ``features``: rows with the meaning columns (not NaN) by the
    meaning model of the encoder's ``kind`` (``meaning_model``; ``coefficients`` and ``intercept`` instead when
    given), the others by the model of round 4."""
    base = np.array([(coefficients or COEFFICIENTS).get(name, 0.0) for name in FEATURES])
    logit = x[:, :len(FEATURES)] @ base + (INTERCEPT if intercept is None else intercept)
    if x.shape[1] > len(FEATURES):
        fitted, fitted_intercept = meaning_model(kind)
        weights = np.array([(coefficients or fitted)[name] for name in MEANING_FEATURES])
        present = ~np.isnan(x[:, len(FEATURES):]).any(axis=1)
        logit[present] = x[present] @ weights + (fitted_intercept if intercept is None else intercept)
    return np.asarray(1.0 / (1.0 + np.exp(-logit)))
