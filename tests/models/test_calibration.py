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
