"""Meta-labeling: triple-barrier labels, the bet size, and sizes learned from each strategy's record."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.features import FEATURE_COLUMNS
from nexus_assets.ml.metalabel import BarrierConfig, bet_size, triple_barrier
from nexus_assets.ml.replay.meta import meta_sizes

BARRIERS = BarrierConfig(horizon=5, profit_take=1.0, stop_loss=1.0)


def test_the_first_barrier_touched_decides_and_an_open_bet_is_unknown():
    vol = 0.01  # barriers at +-0.01 * sqrt(5) = 2.24%
    up = np.array([100, 101, 103, 90, 90, 90, 90.0])
    assert triple_barrier(up, 0, 1.0, vol, BARRIERS) == (1.0, 2)
    assert triple_barrier(up, 0, -1.0, vol, BARRIERS) == (0.0, 2), "a short loses on the same path"
    drift = np.array([100, 100.5, 100.2, 100.4, 100.1, 100.3, 99.0])
    assert triple_barrier(drift, 0, 1.0, vol, BARRIERS) == (1.0, 5), "the vertical barrier: the sign decides"
    label, resolved = triple_barrier(drift[:4], 0, 1.0, vol, BARRIERS)
    assert math.isnan(label) and resolved == 4, "not known until a barrier is reached"


def test_bet_size_is_zero_at_even_odds_and_grows_with_the_probability():
    sizes = bet_size(np.array([0.2, 0.5, 0.6, 0.8, 0.999]))
    assert sizes[0] == 0.0 and sizes[1] == 0.0
    assert 0 < sizes[2] < sizes[3] < sizes[4] <= 1.0


@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(3)
    n, k = 3000, 4
    close = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (n, k)), axis=0))
    features = np.zeros((n, k, len(FEATURE_COLUMNS)))
    features[:, :, FEATURE_COLUMNS.index("rv_21")] = 0.01
    features[:, :, 0] = rng.normal(size=(n, k))  # noise the model must learn to ignore
    return close, features


def _events(close: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """``oracle`` buys only before a rise; ``noisy`` buys at random."""
    rows = []
    for t in range(50, close.shape[0] - 30, 7):
        for column in range(close.shape[1]):
            ahead = math.log(close[t + 5, column] / close[t, column])
            if ahead > 0.005:
                rows.append(
                    {
                        "row": t,
                        "symbol": f"S{column}",
                        "strategy_id": "oracle",
                        "side": "buy",
                        "strength": 0.5,
                    }
                )
            if rng.random() < 0.5:
                rows.append(
                    {"row": t, "symbol": f"S{column}", "strategy_id": "noisy", "side": "buy", "strength": 0.5}
                )
    return pl.DataFrame(rows)


def test_a_strategy_that_loses_loses_weight_from_its_own_record(market):
    close, features = market
    placed = _events(close, np.random.default_rng(5))
    symbols = [f"S{i}" for i in range(close.shape[1])]
    sizes = meta_sizes(placed, close, features, symbols, [1000, 2000], 1000, BARRIERS)
    assert sizes.fitted == 2 and sizes.labels > 500
    by_strategy = {"oracle": [], "noisy": []}
    for (row, _, strategy), size in sizes.scale.items():
        assert row >= 1000, "only signals after the first retrain are sized"
        by_strategy[strategy].append(size)
    assert np.mean(by_strategy["oracle"]) > np.mean(by_strategy["noisy"]) + 0.1


def test_a_size_depends_on_no_price_after_its_signal(market):
    """Prices after bar 1800 change no size of a signal at or before it (the fit at 1500 included)."""
    close, features = market
    placed = _events(close, np.random.default_rng(5))
    symbols = [f"S{i}" for i in range(close.shape[1])]
    before = meta_sizes(placed, close, features, symbols, [1500], 1000, BARRIERS)
    shocked = close.copy()
    shocked[1801:] *= np.exp(np.random.default_rng(9).normal(0, 0.05, shocked[1801:].shape))
    after = meta_sizes(placed, shocked, features, symbols, [1500], 1000, BARRIERS)
    early = {key: size for key, size in before.scale.items() if key[0] <= 1800}
    assert early and early == {key: size for key, size in after.scale.items() if key[0] <= 1800}
    assert before.scale != after.scale, "later signals do see later records"
