"""Probability calibration for linear scores: temperature scaling (multiclass) and shared Platt scaling
(multi-label), both fitted on out-of-fold scores so the confidences are honest on unseen items.

Applying a fitted calibration needs numpy only; scipy's optimiser and scikit-learn are imported when fitting, so
that serving a TF-IDF model does not pay for importing them."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def softmax_t(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise ``softmax(scores / T)`` (the same operations as ``scipy.special.softmax``)."""
    z = scores / temperature
    e = np.exp(z - np.amax(z, axis=1, keepdims=True))
    out: np.ndarray = e / np.sum(e, axis=1, keepdims=True)
    return out


def grouped_softmax(scores: np.ndarray, starts: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Row-wise softmax within contiguous column groups beginning at ``starts``, each column divided by its
    group's temperature first (``temperatures`` per column): the same as ``softmax_t`` group by group, in a fixed
    number of numpy operations however many groups there are."""
    if scores.shape[1] == 0:
        return scores.copy()
    sizes = np.diff(np.append(starts, scores.shape[1]))
    z = scores / temperatures
    e = np.exp(z - np.repeat(np.maximum.reduceat(z, starts, axis=1), sizes, axis=1))
    out: np.ndarray = e / np.repeat(np.add.reduceat(e, starts, axis=1), sizes, axis=1)
    return out


def fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of ``softmax(scores / T)``."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def nll(log_t: float) -> float:
        logp = log_softmax(scores / np.exp(log_t), axis=1)
        return float(-logp[np.arange(len(y_index)), y_index].mean())

    result = minimize_scalar(nll, bounds=(np.log(1e-3), np.log(1e3)), method="bounded")
    return float(np.exp(result.x))


def out_of_fold_scores(
    fit_scores: Callable[[np.ndarray, np.ndarray], np.ndarray], n_rows: int, n_columns: int,
    *, n_splits: int = 3, seed: int = 0,
) -> np.ndarray:
    """Scores for every row from a model that did not see it. ``fit_scores(train_idx, test_idx)`` returns
    ``(len(test_idx), n_columns)`` scores; columns a fold cannot score are returned as NaN and filled here
    with a low score so they get (almost) no probability mass."""
    from sklearn.model_selection import KFold

    out = np.full((n_rows, n_columns), np.nan)
    folds = list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(n_rows)))
    # liblinear releases the GIL: the folds train side by side on the available cores
    with ThreadPoolExecutor(max_workers=min(len(folds), os.cpu_count() or 1)) as pool:
        for (_, test_idx), scores in zip(folds, pool.map(lambda f: fit_scores(*f), folds), strict=True):
            out[test_idx] = scores
    low = np.nanmin(out) - 10.0 if np.isfinite(out).any() else -10.0
    return np.where(np.isnan(out), low, out)


class PlattScaler:
    """One sigmoid ``p = σ(a·s + b)`` shared by all labels of a multi-label head."""

    def fit(self, scores: np.ndarray, targets: np.ndarray) -> PlattScaler:
        flat_y = targets.ravel()
        if flat_y.min() == flat_y.max():
            self.coef_, self.intercept_ = 0.0, float(4.0 if flat_y[0] else -4.0)
            return self
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), flat_y)
        self.coef_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        z = self.coef_ * scores + self.intercept_
        with np.errstate(over="ignore"):  # exp(-z) = inf for a very low score: the probability is 0
            out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out
