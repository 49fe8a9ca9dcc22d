"""The compact isolation forest scores exactly as scikit-learn does, fast, from plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from nexus_assets.ml.anomaly_forest import CompactIsolationForest, average_path_length
from nexus_assets.ml.anomaly_inputs import feature_matrix, model_inputs
from nexus_assets.ml.features import compute_features
from nexus_assets.sim.market import MarketSimConfig, simulate_market

TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def real_inputs() -> np.ndarray:
    bars = simulate_market(MarketSimConfig(symbols=("AAA", "BBB", "CCC"), n_bars=500, seed=5))
    return model_inputs(feature_matrix(compute_features(bars)))


def _random(n: int, seed: int, width: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, width))
    x[:, 1] = rng.standard_t(2, n)  # heavy tails, like returns
    return x


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"max_samples": "auto", "n_estimators": 25},
        {"max_samples": 64, "n_estimators": 40},
        {"max_samples": 0.3, "n_estimators": 30},
        {"max_samples": 1024, "n_estimators": 20},
        {"max_features": 0.5, "n_estimators": 30},
        {"max_features": 2, "max_samples": 100, "contamination": 0.05},
    ],
)
def test_compact_equals_sklearn_on_random_rows(params):
    x_train, x_test = _random(1500, 1), _random(700, 2) * 2.5
    estimator = IsolationForest(random_state=3, **params).fit(x_train)
    compact = CompactIsolationForest.from_sklearn(estimator)
    expected = estimator.score_samples(x_test)
    np.testing.assert_allclose(compact.score_samples(x_test), expected, rtol=0, atol=TOLERANCE)
    one_by_one = np.array([compact.score_one(row) for row in x_test[:60]])
    np.testing.assert_allclose(one_by_one, expected[:60], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(
        compact.decision_function(x_test), estimator.decision_function(x_test), rtol=0, atol=TOLERANCE
    )


def test_compact_equals_sklearn_when_auto_uses_fewer_than_256_rows():
    x_train = _random(120, 4)
    estimator = IsolationForest(random_state=0, n_estimators=50).fit(x_train)
    assert estimator.max_samples_ == 120
    compact = CompactIsolationForest.from_sklearn(estimator)
    np.testing.assert_allclose(
        compact.score_samples(x_train), estimator.score_samples(x_train), atol=TOLERANCE
    )


def test_compact_equals_sklearn_on_real_feature_inputs(real_inputs):
    half = real_inputs.shape[0] // 2
    estimator = IsolationForest(random_state=7, n_estimators=150, max_samples=512).fit(real_inputs[:half])
    compact = CompactIsolationForest.from_sklearn(estimator)
    expected = estimator.score_samples(real_inputs)
    np.testing.assert_allclose(compact.score_samples(real_inputs), expected, rtol=0, atol=TOLERANCE)
    assert abs(compact.score_one(real_inputs[-1]) - expected[-1]) <= TOLERANCE


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_missing_and_extreme_values_follow_sklearn():
    x_train = _random(800, 5)
    estimator = IsolationForest(random_state=1, n_estimators=40).fit(x_train)
    compact = CompactIsolationForest.from_sklearn(estimator)
    x = _random(50, 6)
    x[::3, 0] = np.nan
    x[1::5, 2] = np.inf
    x[2::7, 4] = 1e300  # overflows float32, as scikit-learn's cast does
    np.testing.assert_allclose(compact.score_samples(x), estimator.score_samples(x), atol=TOLERANCE)
    assert abs(compact.score_one(x[0]) - estimator.score_samples(x[:1])[0]) <= TOLERANCE


def test_single_sample_forest_scores_like_sklearn():
    estimator = IsolationForest(random_state=0, max_samples=1, n_estimators=5).fit(_random(30, 1))
    compact = CompactIsolationForest.from_sklearn(estimator)
    x = _random(4, 2)
    np.testing.assert_array_equal(compact.score_samples(x), estimator.score_samples(x))


def test_average_path_length_matches_the_formula():
    n = np.array([0, 1, 2, 3, 256])
    expected = [0.0, 0.0, 1.0, 2 * (np.log(2) + np.euler_gamma) - 2 * 2 / 3, None]
    got = average_path_length(n)
    np.testing.assert_allclose(got[:4], expected[:4])
    assert 10.0 < got[4] < 11.0


def test_arrays_round_trip_scores_identically(tmp_path):
    estimator = IsolationForest(random_state=2, n_estimators=30).fit(_random(600, 3))
    compact = CompactIsolationForest.from_sklearn(estimator)
    np.savez(tmp_path / "forest.npz", **compact.to_arrays())
    with np.load(tmp_path / "forest.npz", allow_pickle=False) as arrays:
        loaded = CompactIsolationForest.from_arrays(arrays)
    x = _random(200, 9)
    np.testing.assert_array_equal(loaded.score_samples(x), compact.score_samples(x))
    assert loaded.n_trees == 30


def test_a_row_scores_the_same_alone_as_in_a_batch(real_inputs):
    estimator = IsolationForest(random_state=0, n_estimators=300, max_samples=1024).fit(real_inputs)
    compact = CompactIsolationForest.from_sklearn(estimator)
    rows = real_inputs[:200].copy()
    rows[::7, 2] = np.nan
    batch = compact.score_samples(rows)
    alone = np.array([compact.score_one(row) for row in rows])
    np.testing.assert_array_equal(alone, batch)


def test_malformed_cycles_cannot_hang_the_descent():
    compact = CompactIsolationForest.from_sklearn(
        IsolationForest(n_estimators=3, random_state=0).fit(_random(80, 0))
    )
    arrays = compact.to_arrays()
    children = arrays["children"].copy()
    root = int(arrays["roots"][0])
    first_child = int(children[2 * root])
    children[2 * first_child : 2 * first_child + 2] = root  # root -> child -> root -> ...
    cyclic = CompactIsolationForest.from_arrays({**arrays, "children": children})
    assert np.isfinite(cyclic.score_samples(_random(5, 1))).all()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="not fitted"):
        CompactIsolationForest.from_sklearn(IsolationForest())
    compact = CompactIsolationForest.from_sklearn(
        IsolationForest(n_estimators=5, random_state=0).fit(_random(50, 0))
    )
    with pytest.raises(ValueError, match="expected 6 feature column"):
        compact.score_samples(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="expected 6 feature column"):
        compact.score_one(np.zeros(5))
    arrays = compact.to_arrays()
    with pytest.raises(ValueError, match="missing 'leaf_path'"):
        CompactIsolationForest.from_arrays({k: v for k, v in arrays.items() if k != "leaf_path"})
    with pytest.raises(ValueError, match="child index is out of range"):
        CompactIsolationForest.from_arrays({**arrays, "children": arrays["children"] + 10_000})
    with pytest.raises(ValueError, match="feature index is out of range"):
        CompactIsolationForest.from_arrays({**arrays, "feature": arrays["feature"] + 6})
