"""The replay's view of and decision on a signal on day d are the decision service's, with that day's champions.

The replay (``nexus backtest``) and the service share the feature kernel, the three models in
their served forms and the policy; this holds them to it on the signal features too: the request
carries the symbol's earlier signals in ``recent_signals``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import polars as pl
import pytest

from nexus_assets.ml.portfolio.book import book_limits
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.registry.champions import Champions
from nexus_assets.ml.replay import ReplayConfig, RetrainConfig, replay_bars, run_replay
from nexus_assets.sim.market import MarketSimConfig, simulate_market
from nexus_assets.sim.reference_signals import reference_signals
from nexus_serving.decisions.model_views import model_views
from nexus_serving.decisions.policy_step import EngineConfig, decide_with_view
from nexus_serving.decisions.request_bars import prepare
from nexus_serving.model_store import ModelBundle, ModelInfo
from nexus_serving.risk.held import SharedRisk
from nexus_serving.schemas import DecisionRequest

SYMBOLS = ("AAA", "BBB")
CONFIG = ReplayConfig(
    warmup=300,
    retrain=RetrainConfig(retrain_every=100, train_bars=400, lstm=LstmConfig(hidden_size=8, max_epochs=1)),
)


@pytest.fixture(scope="module")
def replayed():
    data = replay_bars(simulate_market(MarketSimConfig(symbols=SYMBOLS, n_bars=480, seed=8)))
    signals = reference_signals(data.bars)
    return data, signals, run_replay(data, signals, CONFIG)


def _iso(stamp: datetime) -> str:
    return stamp.isoformat().replace("+00:00", "Z")


def _request(data, signals: pl.DataFrame, symbol: str, row: int, signal: dict) -> DecisionRequest:
    stamp = data.calendar[row]
    bars = data.bars.filter((pl.col("symbol") == symbol) & (pl.col("timestamp") <= stamp)).tail(120)
    earlier = signals.filter(
        (pl.col("symbol") == symbol)
        & (pl.col("timestamp") <= stamp)
        & (pl.col("timestamp") >= bars["timestamp"][0])
    )
    earlier = earlier.filter(
        ~((pl.col("strategy_id") == signal["strategy_id"]) & (pl.col("timestamp") == signal["timestamp"]))
    )
    body = {
        "request_id": f"replay-{symbol}-{row}",
        "signal": {
            "signal_id": "s",
            "strategy_id": signal["strategy_id"],
            "symbol": symbol,
            "side": signal["side"],
            "strength": signal["strength"],
            "timestamp": _iso(signal["timestamp"]),
        },
        "bars": {
            "timestamp": [_iso(t) for t in bars["timestamp"]],
            **{c: bars[c].to_list() for c in ("open", "high", "low", "close", "volume")},
        },
        "recent_signals": [
            {
                "strategy_id": r["strategy_id"],
                "side": r["side"],
                "strength": r["strength"],
                "timestamp": _iso(r["timestamp"]),
            }
            for r in earlier.iter_rows(named=True)
        ],
    }
    return DecisionRequest.model_validate_json(orjson.dumps(body))


def test_the_service_sees_what_the_replay_saw_on_every_arriving_signal(replayed):
    data, signals, result = replayed
    checked = 0
    for row in (310, 395, 405, 470):
        day = result.views.champions_at(row)
        champions = Champions(
            day.predictor, day.volatility, day.anomaly, {"trade-nexus-predictor": f"replay-{row}"}
        )
        now = data.calendar[row]
        info = {"trade-nexus-predictor": ModelInfo("trade-nexus-predictor", "1", "champion", now)}
        bundle = ModelBundle(champions, info, "registry", datetime.now(UTC))
        arriving = signals.filter(pl.col("timestamp") == now)
        for signal in arriving.iter_rows(named=True):
            symbol = SYMBOLS.index(signal["symbol"])
            request = _request(data, signals, signal["symbol"], row, signal)
            (view,) = model_views(bundle, [(request, prepare(request, bundle))], now)
            assert view.predicted_return == pytest.approx(
                result.views.predicted[row, symbol], rel=1e-6, abs=1e-9
            )
            assert view.volatility == pytest.approx(result.views.volatility[row, symbol], rel=1e-12)
            alone = arriving.filter(pl.col("symbol") == signal["symbol"]).height == 1
            if alone and np.isfinite(result.anomaly_scores[row, symbol]):
                assert view.anomaly_score == pytest.approx(result.anomaly_scores[row, symbol], abs=1e-12)
            checked += 1
    assert checked > 0


@pytest.fixture(scope="module")
def one_symbol():
    data = replay_bars(simulate_market(MarketSimConfig(symbols=("AAA",), n_bars=480, seed=11)))
    signals = reference_signals(data.bars)
    return data, signals, run_replay(data, signals, CONFIG)


def test_the_replays_decision_on_a_signal_is_the_services_answer_to_the_same_request(one_symbol):
    """The same book (equity, high-water mark, position) and that day's champions: the same decision."""
    data, signals, result = one_symbol
    policy = book_limits(
        max_weight=CONFIG.max_weight, max_gross=CONFIG.max_gross, max_turnover=CONFIG.max_turnover,
        cost_bps=CONFIG.cost_bps, holding_bars=CONFIG.holding_bars, target_volatility=CONFIG.target_volatility,
    )[1]  # fmt: skip
    compared = 0
    for arrival in result.arrivals:
        if arrival.latched_before or not arrival.scored_with_it:
            continue  # the service holds its own latch; its anomaly rules see this request's signal
        row = arrival.row
        day = result.views.champions_at(row)
        champions = Champions(day.predictor, day.volatility, day.anomaly, {"trade-nexus-predictor": "r"})
        now = data.calendar[row]
        bundle = ModelBundle(
            champions, {"trade-nexus-predictor": ModelInfo("trade-nexus-predictor", "1", "champion", now)},
            "registry", datetime.now(UTC),
        )  # fmt: skip
        signal = {k: arrival.signal[k] for k in ("strategy_id", "side", "strength", "timestamp")}
        request = _request(data, signals, "AAA", row, signal)
        close = float(data.close[row, 0])
        book = {
            "equity": arrival.equity,
            "peak_equity": arrival.peak_equity,
            "positions": {"AAA": arrival.current_weight * arrival.equity / close},
        }
        request = DecisionRequest.model_validate_json(
            orjson.dumps({**orjson.loads(request.model_dump_json()), "portfolio": book})
        )
        bars = prepare(request, bundle)
        (view,) = model_views(bundle, [(request, bars)], now)
        with SharedRisk().open_pass() as risk:
            served = decide_with_view(
                request, bars, view, bundle, risk, EngineConfig(policy=policy), now
            ).response
        assert served.action == arrival.action, (row, served.reasons)
        assert served.target_weight == pytest.approx(arrival.target_weight, rel=1e-9, abs=1e-12)
        compared += 1
    assert compared >= 10
