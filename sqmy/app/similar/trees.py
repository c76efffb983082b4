"""Gradient-boosted trees, evaluated in NumPy from a small JSON file: the pairwise same-matter model (``pairs``).

The trees are fitted offline by scikit-learn's ``HistGradientBoostingClassifier`` (``bench/similar_fit.py``) and
exported node by node (``from_sklearn``), so serving needs neither scikit-learn's estimator nor a pickle: a query
scores its ~50–80 candidates through every tree at once, one level of all trees per step."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BoostedTrees:
    """Binary classification trees: the log-odds of a row are ``baseline + offset`` plus, for every tree, the value
    of the leaf the row reaches (left when ``x[feature] <= threshold``; a missing value goes where the fit sent
    them). Nodes of all trees are stored flat; ``roots`` indexes each tree's first node."""

    features: tuple[str, ...]  # the column each feature index reads, in the order of ``pairs.features``
    baseline: float
    offset: float  # moves the threshold chosen on the dev half to ``Thresholds().same_matter``
    roots: np.ndarray  # int64, one per tree
    feature: np.ndarray  # int64 per node (leaves: 0)
    threshold: np.ndarray  # float64 per node
    missing_left: np.ndarray  # bool per node
    left: np.ndarray  # int64 per node (leaves: themselves)
    right: np.ndarray  # int64 per node (leaves: themselves)
    value: np.ndarray  # float64 per node, read at leaves
    depth: int  # the deepest leaf's depth: steps of ``decision``

    def decision(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of each row of ``x`` (columns in ``features`` order)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features ({', '.join(self.features)}), "
                             f"got shape {x.shape}")
        if not len(x):
            return np.zeros(0)
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        for _ in range(self.depth):
            value = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(value), self.missing_left[node], value <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return np.asarray(self.baseline + self.offset + self.value[node].sum(axis=1))

    def probability(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.decision(x))))

    def with_offset(self, offset: float) -> BoostedTrees:
        return replace(self, offset=float(offset))

    # -- files ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "boosted-trees", "features": list(self.features), "baseline": self.baseline,
                "offset": self.offset, "depth": self.depth, "roots": self.roots.tolist(),
                "nodes": {"feature": self.feature.tolist(), "threshold": self.threshold.tolist(),
                          "missing_left": self.missing_left.astype(int).tolist(), "left": self.left.tolist(),
                          "right": self.right.tolist(), "value": self.value.tolist()}}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoostedTrees:
        nodes = data["nodes"]
        return cls(features=tuple(data["features"]), baseline=float(data["baseline"]),
                   offset=float(data["offset"]), roots=np.asarray(data["roots"], dtype=np.int64),
                   feature=np.asarray(nodes["feature"], dtype=np.int64),
                   threshold=np.asarray(nodes["threshold"], dtype=np.float64),
                   missing_left=np.asarray(nodes["missing_left"], dtype=bool),
                   left=np.asarray(nodes["left"], dtype=np.int64), right=np.asarray(nodes["right"], dtype=np.int64),
                   value=np.asarray(nodes["value"], dtype=np.float64), depth=int(data["depth"]))

    @classmethod
    def load(cls, path: Path) -> BoostedTrees:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_sklearn(cls, model: Any, features: Sequence[str]) -> BoostedTrees:
        """Export a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        roots, parts, start = [], [], 0
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            own = np.arange(len(nodes)) + start
            parts.append({
                "feature": np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64),
                "threshold": np.where(leaf, 0.0, nodes["num_threshold"]).astype(np.float64),
                "missing_left": nodes["missing_go_to_left"].astype(bool),
                "left": np.where(leaf, own, nodes["left"] + start).astype(np.int64),
                "right": np.where(leaf, own, nodes["right"] + start).astype(np.int64),
                "value": np.where(leaf, nodes["value"], 0.0).astype(np.float64),
                "depth": int(nodes["depth"].max())})
            roots.append(start)
            start += len(nodes)
        return cls(features=tuple(features), baseline=float(np.ravel(model._baseline_prediction)[0]), offset=0.0,
                   roots=np.asarray(roots, dtype=np.int64),
                   **{name: np.concatenate([p[name] for p in parts])
                      for name in ("feature", "threshold", "missing_left", "left", "right", "value")},
                   depth=max((p["depth"] for p in parts), default=0))
