"""Strategies that trade alike count once: position series, clusters, and the netting that uses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.optimizer.weights import AllocationLimits
from nexus_assets.ml.portfolio.allocation import SymbolView, allocate
from nexus_assets.ml.portfolio.allocation_inputs import standing_signals
from nexus_assets.ml.portfolio.policy import PolicyConfig
from nexus_assets.ml.portfolio.strategy_clusters import position_series, strategy_clusters

LOOSE = AllocationLimits(
    max_weight=1.0, max_gross=3.0, max_net=3.0, min_net=-3.0, long_only=False, max_turnover=None,
    target_volatility=None, cost_per_unit_turnover=0.0,
)  # fmt: skip


def test_a_signal_stands_until_the_next_or_until_it_expires():
    series = position_series(np.array([2, 5, 12]), np.array([1.0, -1.0, 0.0]), 16, 4)
    assert series.tolist() == [0, 0, 1, 1, 1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0]


def test_strategies_that_trade_alike_share_a_cluster_and_constant_ones_stand_alone():
    rng = np.random.default_rng(1)
    base = np.sign(rng.normal(size=300))
    echo = base.copy()
    echo[:10] = 0  # a late start: still correlated far above 0.9
    other = np.sign(rng.normal(size=300))
    flat = np.zeros(300)
    clusters = strategy_clusters(np.column_stack([base, echo, other, flat]), ["a", "b", "c", "d"])
    assert clusters == {"a": "a", "b": "a", "c": "c", "d": "d"}


def test_a_cluster_counts_once_against_a_strategy_that_disagrees():
    view = SymbolView(
        "AAA", 0.0, 0.02, 0.1, 0.0,
        signals=(
            {"side": "buy", "strength": 1.0, "strategy_id": "a", "cluster": "a"},
            {"side": "buy", "strength": 1.0, "strategy_id": "b", "cluster": "a"},
            {"side": "sell", "strength": 1.0, "strategy_id": "c", "cluster": "c"},
        ),
    )  # fmt: skip
    netted = allocate([view], np.array([[0.02**2]]), policy=PolicyConfig(), limits=LOOSE).desired_weights[0]
    assert netted == pytest.approx(0.0, abs=1e-12)
    apart = SymbolView(
        "AAA",
        0.0,
        0.02,
        0.1,
        0.0,
        signals=tuple(
            {k: v for k, v in s.items() if k != "cluster"} | {"strategy_id": s["strategy_id"]}
            for s in view.signals
        ),
    )
    assert (
        allocate([apart], np.array([[0.02**2]]), policy=PolicyConfig(), limits=LOOSE).desired_weights[0] > 0
    )


def test_the_allocation_asset_sees_an_echo_as_the_strategy_it_echoes():
    days = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(300)]
    bars = pl.DataFrame({"symbol": "AAA", "timestamp": days})
    rows = []
    for start in range(0, 300, 30):
        for strategy, side in (("lead", "buy"), ("echo", "buy"), ("other", "sell")):
            rows.append(
                {
                    "symbol": "AAA",
                    "strategy_id": strategy,
                    "side": side,
                    "strength": 0.5,
                    "timestamp": days[start],
                }
            )
            rows.append(
                {
                    "symbol": "AAA",
                    "strategy_id": strategy,
                    "side": "flat",
                    "strength": 0.5,
                    "timestamp": days[start + 10],
                }
            )
    standing = standing_signals(pl.DataFrame(rows), bars, 63)["AAA"]
    assert {s["strategy_id"]: s["cluster"] for s in standing} == {
        "echo": "echo",
        "lead": "echo",
        "other": "other",
    }
