"""The compact isolation forest scores exactly as scikit-learn does, fast, from plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from nexus_assets.ml.anomaly.forest import CompactIsolationForest, average_path_length
from nexus_assets.ml.anomaly.forest_kernel import WIDE_NODE, isolation_scores, pack_nodes, round_down_f32
from nexus_assets.ml.anomaly.inputs import feature_matrix, model_inputs
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


def _flat_scores(forest: CompactIsolationForest, x: np.ndarray) -> np.ndarray:
    """The stored arrays descended directly, as the kernel did before packing: the reference."""
    out = np.empty(x.shape[0])
    for r, row in enumerate(x.astype(np.float32).astype(np.float64)):
        nodes = forest.roots.copy()
        for _ in range(forest.n_levels):
            value = row[forest.feature[nodes]]
            right = np.where(np.isnan(value), ~forest.nan_go_left[nodes], value > forest.threshold[nodes])
            nodes = forest.children[2 * nodes + right]
        out[r] = -(2.0 ** -(forest.leaf_path[nodes].sum() / forest.denominator))
    return out


def test_round_down_f32_is_the_largest_float32_not_above():
    exact = float(np.nextafter(np.float32(2.0), np.float32(3.0)))
    t = np.array([0.1, -0.1, 1e-45, -1e-45, 3.5e38, -3.5e38, 1e300, -1e300, np.inf, -np.inf, exact])
    t = np.concatenate([t, [exact + 1e-12, exact - 1e-12]])
    down = round_down_f32(t)
    assert down.dtype == np.float32
    assert (down.astype(np.float64) <= t).all()
    with np.errstate(over="ignore"):
        up = np.nextafter(down, np.float32(np.inf)).astype(np.float64)
    assert ((up > t) | (down == np.inf)).all()
    assert np.isnan(round_down_f32(np.array([np.nan]))).all()


def test_thresholds_split_float32_neighbours_as_sklearn_does():
    x_train = _random(1000, 8)
    estimator = IsolationForest(random_state=4, n_estimators=60).fit(x_train)
    compact = CompactIsolationForest.from_sklearn(estimator)
    rows = []
    for tree, columns in zip(estimator.estimators_, estimator.estimators_features_, strict=True):
        t = tree.tree_.threshold[0]
        assert np.float32(t) != t  # a midpoint: the rounding matters
        at = round_down_f32(np.array([t]))[0]
        for value in (np.nextafter(at, np.float32(-np.inf)), at, np.nextafter(at, np.float32(np.inf))):
            row = x_train[len(rows)].copy()
            row[columns[tree.tree_.feature[0]]] = value
            rows.append(row)
    rows = np.array(rows)
    np.testing.assert_allclose(compact.score_samples(rows), estimator.score_samples(rows), atol=TOLERANCE)
    thresholds = compact.threshold[compact.children[::2] != np.arange(compact.feature.shape[0])]
    down = round_down_f32(thresholds)
    for value in (np.nextafter(down, np.float32(-np.inf)), down, np.nextafter(down, np.float32(np.inf))):
        np.testing.assert_array_equal(value > down, value.astype(np.float64) > thresholds)


def test_missing_values_go_where_training_sent_them():
    x_train = _random(900, 11)
    x_train[::3, 1] = np.nan
    x_train[1::4, 4] = np.nan
    estimator = IsolationForest(random_state=5, n_estimators=50).fit(x_train)
    compact = CompactIsolationForest.from_sklearn(estimator)
    inner = compact.children[::2] != np.arange(compact.feature.shape[0])
    assert 0 < compact.nan_go_left[inner].mean() < 1  # both directions are exercised
    x = _random(300, 12)
    x[::2, 1] = np.nan
    x[::3, 4] = np.nan
    x[::5, 0] = np.nan
    np.testing.assert_allclose(compact.score_samples(x), estimator.score_samples(x), rtol=0, atol=TOLERANCE)


def test_leaves_hold_their_place_in_the_packed_layout():
    compact = CompactIsolationForest.from_sklearn(
        IsolationForest(n_estimators=20, random_state=6).fit(_random(400, 13))
    )
    nodes = compact.packed.nodes
    assert nodes.itemsize == 8 and nodes.ctypes.data % 64 == 0
    own = np.arange(nodes.shape[0])
    link = nodes["link"].astype(np.int64)
    child = link >> (compact.packed.feature_bits + 1)
    leaves = child == own
    assert leaves.sum() == (compact.children[::2] == np.arange(compact.feature.shape[0])).sum()
    assert (nodes["threshold"][leaves] == np.inf).all() and (link[leaves] & 1 == 0).all()
    assert (child[~leaves] % 2 == 0).all()  # a sibling pair never straddles a cache line
    x = _random(100, 14)
    x[::4] = np.nan
    x[1::4] = np.inf
    longer = CompactIsolationForest.from_arrays({**compact.to_arrays(), "n_levels": compact.n_levels + 7})
    np.testing.assert_array_equal(longer.score_samples(x), compact.score_samples(x))


def _malformed(arrays: dict[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    children, roots = arrays["children"].copy(), arrays["roots"].copy()
    first, second = int(children[2 * roots[0]]), int(children[2 * roots[1]])
    if kind == "cycle":
        children[2 * first : 2 * first + 2] = roots[0]
    elif kind == "two parents":
        children[2 * first] = second
    elif kind == "twin children":
        children[2 * roots[0] + 1] = first
    elif kind == "shared root":
        roots[2] = roots[0]
    leaf_path = arrays["leaf_path"] + 0.25  # inner nodes too, for descents cut short
    n_levels = 2 if kind == "cut short" else int(arrays["n_levels"])
    return {**arrays, "children": children, "roots": roots, "leaf_path": leaf_path, "n_levels": n_levels}


@pytest.mark.parametrize("kind", ["cycle", "two parents", "twin children", "shared root", "cut short"])
def test_packed_descent_follows_the_stored_arrays_however_malformed(kind):
    compact = CompactIsolationForest.from_sklearn(
        IsolationForest(n_estimators=5, random_state=0).fit(_random(200, 0))
    )
    odd = CompactIsolationForest.from_arrays(_malformed(compact.to_arrays(), kind))
    x = _random(40, 1)
    x[::5, 3] = np.nan
    np.testing.assert_allclose(odd.score_samples(x), _flat_scores(odd, x), rtol=0, atol=TOLERANCE)


def test_wide_links_score_the_same():
    compact = CompactIsolationForest.from_sklearn(
        IsolationForest(n_estimators=30, random_state=1).fit(_random(500, 15))
    )
    arrays = compact.to_arrays()
    wide = pack_nodes(
        *(arrays[k] for k in ("roots", "children", "feature", "threshold")),
        arrays["nan_go_left"],
        arrays["leaf_path"],
        6,
        wide=True,
    )
    assert wide.nodes.dtype == WIDE_NODE
    x = _random(80, 16)
    x[::3, 2] = np.nan
    scores = isolation_scores(
        x, wide.nodes, wide.leaf_path, wide.n_trees, compact.n_levels, wide.feature_bits, compact.denominator
    )
    np.testing.assert_array_equal(scores, compact.score_samples(x))
    assert (
        CompactIsolationForest.from_arrays({**arrays, "n_features": np.array(2**30)}).packed.nodes.dtype
        == WIDE_NODE
    )
    with pytest.raises(ValueError, match="cannot be packed"):
        CompactIsolationForest.from_arrays({**arrays, "n_features": np.array(2**62)})


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
