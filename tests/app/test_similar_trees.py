"""The pairwise model's trees: exported from scikit-learn, read back from JSON and evaluated in NumPy with the same
answers (missing values included); the shipped models move the way their features say, everything else equal."""

from __future__ import annotations

import numpy as np
import pytest

from sqmy.app.similar import pairs
from sqmy.app.similar.trees import BoostedTrees


def test_exported_trees_give_scikit_learns_log_odds_after_a_round_trip_through_json(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4))
    x[::9, 3] = np.nan  # a feature missing on some rows, as the meaning columns are
    y = x[:, 0] - x[:, 1] + np.nan_to_num(x[:, 3]) + rng.normal(scale=0.5, size=len(x)) > 0
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=40, early_stopping=False, random_state=0,
                                           monotonic_cst=[1, -1, 0, 0]).fit(x, y)
    trees = BoostedTrees.from_sklearn(model, ("a", "b", "c", "d"))
    trees.save(tmp_path / "model.json")
    loaded = BoostedTrees.load(tmp_path / "model.json")
    queries = rng.normal(size=(300, 4))
    queries[::4, 3] = np.nan
    assert loaded.decision(queries) == pytest.approx(model.decision_function(queries), abs=1e-9)
    assert loaded.probability(queries) == pytest.approx(model.predict_proba(queries)[:, 1], abs=1e-9)
    moved = loaded.with_offset(1.0)
    assert moved.decision(queries) == pytest.approx(loaded.decision(queries) + 1.0)
    assert loaded.decision(np.zeros((0, 4))).shape == (0,)
    with pytest.raises(ValueError, match="4 features"):
        loaded.decision(queries[:, :3])  # rows of another model's features are refused, not misread


@pytest.mark.parametrize("name", ["characters", "meaning", "matter"])
def test_a_shipped_model_never_scores_a_candidate_lower_for_being_more_alike(name):
    """Every shipped model, on rows taken from typical candidates: more similar by characters, ranked higher by
    meaning, or sharing a 村/小区 never lowers the probability; different towns never raise it."""
    model = pairs.shipped(name)
    width = len(model.features)
    assert model.features == (pairs.MEANING_FEATURES if width > len(pairs.FEATURES) else pairs.FEATURES)
    rng = np.random.default_rng(1)
    n = 400
    rows = np.column_stack([rng.uniform(0.1, 0.9, n), rng.uniform(0.0, 0.8, n), rng.uniform(0.0, 0.5, n),
                            rng.uniform(0.1, 0.4, n), np.log1p(rng.integers(0, 60, n)), rng.integers(0, 2, n),
                            rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
                            np.log1p(rng.integers(10, 400, n)), np.log1p(rng.integers(10, 400, n)),
                            rng.normal(0, 2, n), np.log1p(rng.integers(0, 60, n)), rng.normal(0, 2, n)])[:, :width]
    column = {f: i for i, f in enumerate(model.features)}
    base = model.probability(rows)
    for feature, step in (("dense", 0.1), ("town_shared", 1), ("fine_shared", 1), ("log_rank", -0.5),
                          ("meaning_log_rank", -0.5), ("meaning_z", 0.5), ("town_differs", -1)):
        if feature not in column:
            continue
        moved = rows.copy()
        moved[:, column[feature]] += step
        assert (model.probability(moved) >= base - 1e-12).all(), feature
    assert ((base > 0.0) & (base < 1.0)).all()
