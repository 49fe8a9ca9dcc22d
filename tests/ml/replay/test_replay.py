"""The walk-forward replay of the served path: signals carry the weights, costs, retrains, ablations."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.replay import ROWS, ReplayConfig, RetrainConfig, replay_bars, run_replay
from nexus_assets.ml.replay.meta import MetaSizes
from nexus_assets.ml.replay.signal_file import REPLAY_SIGNAL_SCHEMA
from nexus_assets.ml.replay.standing import Standing, cluster_periods, place_signals
from nexus_assets.sim.market import MarketSimConfig, simulate_market
from nexus_assets.sim.reference_signals import reference_signals

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
DELISTED = 370
WARMUP, RETRAIN_EVERY, N_BARS = 300, 150, 640
FAST = ReplayConfig(
    warmup=WARMUP,
    retrain=RetrainConfig(
        retrain_every=RETRAIN_EVERY,
        train_bars=400,
        lstm=LstmConfig(hidden_size=8, max_epochs=2),
        anomaly_trees=25,
    ),
)


@pytest.fixture(scope="module")
def data():
    """DDD stops trading at bar 370."""
    bars = simulate_market(MarketSimConfig(symbols=SYMBOLS, n_bars=N_BARS, seed=5))
    last = bars["timestamp"].unique().sort()[DELISTED - 1]
    return replay_bars(bars.filter((pl.col("symbol") != "DDD") | (pl.col("timestamp") <= last)))


def _signals(data, rows: list[tuple[int, str, str, str, float]]) -> pl.DataFrame:
    calendar = data.calendar
    return pl.DataFrame(
        [
            {"timestamp": calendar[row], "symbol": s, "strategy_id": k, "side": side, "strength": x}
            for row, s, k, side, x in rows
        ],
        schema=REPLAY_SIGNAL_SCHEMA,
    )


@pytest.fixture(scope="module")
def scripted(data):
    """AAA: bought at 320, bought again at 360 by another strategy, both flat at 420. BBB: sold at 330
    and left to expire. CCC: no signal at all. DDD: bought at 340, then it stops trading."""
    signals = _signals(
        data,
        [
            (320, "AAA", "trend", "buy", 0.9),
            (360, "AAA", "breakout", "buy", 0.8),
            (420, "AAA", "trend", "flat", 0.9),
            (420, "AAA", "breakout", "flat", 0.8),
            (330, "BBB", "trend", "sell", 0.9),
            (340, "DDD", "trend", "buy", 0.9),
        ],
    )
    return run_replay(data, signals, FAST)


@pytest.fixture(scope="module")
def reference(data):
    return run_replay(data, reference_signals(data.bars), FAST)


def _weights(result) -> dict[str, np.ndarray]:
    return {symbol: result.weights[:, i] for i, symbol in enumerate(result.symbols)}


def test_weights_carry_the_signals(scripted):
    w = _weights(scripted)
    rows = np.arange(WARMUP, N_BARS)
    assert (w["CCC"] == 0.0).all(), "no signal, no position"
    assert (np.abs(w["AAA"][rows < 320]) < 1e-9).all() and (w["AAA"] >= -1e-9).all()
    assert (w["AAA"][(rows >= 320) & (rows < 420)] > 0.01).mean() > 0.9, "held while a buy stands"
    assert (np.abs(w["AAA"][rows >= 420]) < 1e-6).all(), "every strategy flat: nothing held"
    assert (w["BBB"] <= 1e-9).all() and (w["BBB"][(rows >= 330) & (rows < 393)] < -0.01).mean() > 0.9
    assert (np.abs(w["BBB"][rows >= 330 + 63]) < 1e-6).all(), "the sell expired after 63 bars"
    assert (w["DDD"][(rows >= 340) & (rows < DELISTED)] > 0.01).all()
    assert (w["DDD"][rows >= DELISTED] == 0.0).all(), "closed on its last bar, never held without a price"


def test_returns_are_the_weights_held_less_costs_per_unit_of_turnover(data, scripted):
    close = data.close[WARMUP:]
    with np.errstate(invalid="ignore"):
        bar_returns = np.nan_to_num(close[1:] / close[:-1] - 1.0)
    held = np.zeros(len(SYMBOLS))
    expected = []
    for t, target in enumerate(scripted.weights[:-1]):
        traded = np.abs(target - held).sum()
        growth = float(target @ bar_returns[t])
        expected.append(growth - FAST.cost_bps / 1e4 * traded)
        held = target * (1 + bar_returns[t]) / (1 + growth)
    np.testing.assert_allclose(scripted.returns["policy"], expected, atol=1e-12)
    assert scripted.turnover["policy"].sum() > 0


def test_champions_are_retrained_on_schedule_from_the_past_only(data, reference):
    starts = list(range(WARMUP, N_BARS, RETRAIN_EVERY))
    assert [r.bar for r in reference.retrains] == starts
    assert [r.trained_until for r in reference.retrains] == [str(data.calendar[s]) for s in starts]
    assert all(r.seconds > 0 and r.windows > 0 for r in reference.retrains)


def test_every_row_is_reported_and_the_gate_is_off_where_switched_off(reference):
    assert set(reference.metrics) == set(ROWS) and "meta_labeled" in ROWS
    for metrics in reference.metrics.values():
        assert {"sharpe", "sortino", "max_drawdown", "annual_volatility", "annual_turnover"} <= set(metrics)
    assert not any(code.startswith("ANOMALY") for code in reference.reasons["no_anomaly_gate"])
    assert "MODEL_DISAGREES" not in reference.reasons["no_predictor"]
    assert "MODEL_DISAGREES" not in reference.reasons["volatility_targeted"]
    assert sum(reference.actions["policy"].values()) > 0
    assert reference.optimizer.get("optimal", 0) > 0
    gross = np.abs(reference.weights).sum(axis=1)
    assert (gross <= FAST.max_gross * 1.05).all()
    assert (np.abs(reference.weights) <= FAST.max_weight * 1.05).all()


def test_few_assets_are_invested_where_signals_stand_not_silently_in_cash(reference):
    """4 x 25% barely allows full investment; the served path sizes each signal and never falls to cash."""
    standing_long = np.abs(reference.weights).sum(axis=1) > 0
    assert standing_long.mean() > 0.5
    assert "SOLVER_FALLBACK" not in reference.reasons["policy"]


def test_a_signal_acts_at_the_close_of_its_bar(data):
    """A signal stamped between two bars acts at the next bar's close, never before."""
    between = data.calendar[349] + timedelta(hours=6)
    signals = pl.DataFrame(
        [{"timestamp": between, "symbol": "CCC", "strategy_id": "s", "side": "buy", "strength": 1.0}],
        schema=REPLAY_SIGNAL_SCHEMA,
    )
    result = run_replay(data, signals, FAST)
    ccc = result.weights[:, SYMBOLS.index("CCC")]
    assert (ccc[: 350 - WARMUP] == 0).all() and ccc[350 - WARMUP] > 0


def test_a_strategy_and_its_echo_share_a_cluster_from_the_bars_before_each_retrain(data):
    """``echo`` repeats ``lead``'s trades on CCC from bar 100 on; ``contrarian`` does the opposite."""
    rows = []
    for start in range(100, 600, 40):
        for strategy, side in (("lead", "buy"), ("echo", "buy"), ("contrarian", "sell")):
            rows += [(start, "CCC", strategy, side, 0.8), (start + 20, "CCC", strategy, "flat", 0.8)]
    placed = place_signals(data, _signals(data, rows))
    starts = [WARMUP, WARMUP + RETRAIN_EVERY]
    clusters = cluster_periods(placed, list(SYMBOLS), N_BARS, starts, 400, 63)
    assert clusters[(WARMUP, SYMBOLS.index("CCC"))] == {
        "contrarian": "contrarian",
        "echo": "echo",
        "lead": "echo",
    }
    standing = Standing(placed, list(SYMBOLS), 63, MetaSizes({}, 0, 0, 0.0), clusters)
    for row in range(WARMUP + 1):
        standing.advance(row)
    held = {s["strategy_id"]: s["cluster"] for s in standing.at(SYMBOLS.index("CCC"), WARMUP)}
    assert held == {"contrarian": "contrarian", "echo": "echo", "lead": "echo"}, (
        "netted as two views, not three"
    )


def test_too_little_history_is_refused(data):
    with pytest.raises(ValueError, match="needs more than warmup"):
        run_replay(data, reference_signals(data.bars), ReplayConfig(warmup=N_BARS))
