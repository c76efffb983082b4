import numpy as np

from sqmy.models.calibration import PlattScaler, fit_temperature, softmax_t


def test_temperature_softens_overconfident_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    scores = rng.normal(size=(2000, 3))
    scores[np.arange(2000), y] += 1.0  # informative but noisy
    overconfident = scores * 10
    t = fit_temperature(overconfident, y)
    assert t > 3
    conf = softmax_t(overconfident, t).max(axis=1)
    accuracy = (overconfident.argmax(axis=1) == y).mean()
    assert abs(conf.mean() - accuracy) < 0.05


def test_platt_scaler_maps_scores_to_probabilities():
    scores = np.array([[-2.0, 2.0], [-1.5, 1.0], [2.0, -2.0], [1.0, -1.0]])
    targets = (scores > 0).astype(int)
    p = PlattScaler().fit(scores, targets).transform(scores)
    assert ((p > 0.5) == targets.astype(bool)).all()


def test_grouped_softmax_matches_one_softmax_per_group():
    """The level-3 heads' calibrated softmax, all families at once, equals it family by family."""
    from sqmy.models.calibration import grouped_softmax, softmax_t

    rng = np.random.default_rng(3)
    scores = rng.normal(size=(5, 9)).astype(np.float32)
    starts, temps = np.array([0, 1, 4]), [0.7, 1.3, 2.0]
    sizes = [1, 3, 5]
    per_column = np.repeat(temps, sizes).astype(np.float32)
    together = grouped_softmax(scores, starts, per_column)
    apart = np.hstack([softmax_t(scores[:, s:s + n], t) for s, n, t in zip(starts, sizes, temps, strict=True)])
    np.testing.assert_allclose(together, apart, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(together[:, 1:4].sum(axis=1), 1.0, rtol=1e-5)
