"""The same-matter probability of a query and one of its candidates: gradient-boosted trees over what the index
computes per candidate anyway (docs/BENCHMARKS.md, similar items, rounds 4 and 8).

The query-level terms (its background, the spread of its candidates' similarities, a candidate's rank among them)
let the model judge a similarity against the query's own neighbourhood, whatever the size of the index. Where
embeddings by meaning exist (``meaning.py``), the candidate's rank and relative similarity by meaning among the
query's candidates join them (``MEANING_FEATURES``; the cosine itself added nothing measurable, round 5).

Three models, fitted by ``bench/similar_fit.py`` on the dev half of the labelled set (bench/similar/) among a
realistic background of ~18k items and shipped as JSON beside this module (``pair_models/``): ``characters`` for a
candidate without an embedding (or an index without an encoder), ``meaning`` for the 6-layer student or any other
encoder, ``matter`` for an encoder adapted to tell matters apart (``meaning.json``: ``"kind": "matter"``). Each is
monotone in the features whose direction is known (``MONOTONE``) and offset so that the threshold chosen on the dev
half reads as the default ``SQMY_SIMILAR_THRESHOLD``. Rounds 4–7 used logistic regressions over the same features;
the trees found 0.6–5 points more recall@5 at precision 0.80 on the held-out halves (round 8)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from sqmy.app.similar.trees import BoostedTrees

FEATURES = ("dense", "sparse", "jaccard", "background", "log_rank", "town_differs", "town_shared",
            "fine_differs", "fine_shared", "log_query_len", "log_candidate_len", "z")
MEANING_FEATURES = (*FEATURES, "meaning_log_rank", "meaning_z")
# +1: the probability never falls as the feature grows, -1: never rises (what the fit is held to)
MONOTONE = {"dense": 1, "log_rank": -1, "town_differs": -1, "town_shared": 1, "fine_differs": -1, "fine_shared": 1,
            "meaning_log_rank": -1, "meaning_z": 1}
MODELS = Path(__file__).with_name("pair_models")
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


def model_name(kind: str | None) -> str:
    """The model that scores a candidate: ``characters`` without an embedding by meaning (``kind`` None), else the
    one fitted for an encoder of this ``kind`` (``meaning.json``)."""
    if kind is None:
        return "characters"
    return "matter" if kind == "matter" else "meaning"


@cache
def shipped(name: str) -> BoostedTrees:
    """A shipped model (``pair_models/<name>.json``), read once."""
    return BoostedTrees.load(MODELS / f"{name}.json")


def probability(x: np.ndarray, *, kind: str = "", models: Mapping[str, BoostedTrees] | None = None) -> np.ndarray:
    """The same-matter probability of each row of ``features``: rows with the meaning columns (not NaN) by the
    model of the encoder's ``kind``, the others by the ``characters`` model (``models``: these instead of the
    shipped ones, by name, for evaluation)."""
    def model(name: str) -> BoostedTrees:
        return (models or {}).get(name) or shipped(name)

    out = np.zeros(len(x))
    present = (~np.isnan(x[:, len(FEATURES):]).any(axis=1) if x.shape[1] > len(FEATURES)
               else np.zeros(len(x), dtype=bool))
    if present.any():
        out[present] = model(model_name(kind)).probability(x[present])
    if (~present).any():
        out[~present] = model(model_name(None)).probability(x[~present, :len(FEATURES)])
    return out
