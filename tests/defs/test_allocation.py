"""The whole graph on the stand-ins: models, allocation published to the Live Engine, backtest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import httpx
import polars as pl
import pytest

from nexus_assets.allocation_record import allocation_path, read_allocation
from nexus_assets.defs.allocation.assets import portfolio_allocation
from nexus_assets.defs.allocation.orders import live_engine_orders
from nexus_assets.defs.backtest.assets import backtest_report
from nexus_assets.defs.features.assets import features
from nexus_assets.defs.lona.assets import lona_signals, lona_strategies
from nexus_assets.defs.lona.reviews import strategy_reviews
from nexus_assets.defs.market.assets import market_bars
from nexus_assets.defs.models.anomaly import anomaly_detector
from nexus_assets.defs.models.predictor import price_predictor
from nexus_assets.defs.models.volatility import volatility_model
from nexus_assets.defs.news.assets import headline_sentiment, news_headlines, news_sentiment
from nexus_assets.resources.grok import GrokResource
from nexus_assets.resources.kill_switch import KillSwitchResource
from nexus_assets.resources.live_engine import LiveEngineResource
from nexus_assets.resources.lona import LonaGateway
from nexus_assets.resources.market_data import LonaMarketData
from nexus_assets.resources.news import SimulatedNews
from nexus_assets.risk_store import RiskMove, RiskStore
from nexus_assets.sim.process import LiveEngineStandIn, running_live_engine_stand_in, running_lona_stand_in
from nexus_serving.audit.sinks import open_sink

pytestmark = pytest.mark.slow

MODELS = [
    market_bars,
    lona_strategies,
    lona_signals,
    features,
    price_predictor,
    volatility_model,
    anomaly_detector,
    # What the allocation also reads: offline news sentiment and strategy reviews.
    news_headlines,
    headline_sentiment,
    news_sentiment,
    strategy_reviews,
]


@pytest.fixture(scope="module")
def live_engine() -> Iterator[LiveEngineStandIn]:
    with running_live_engine_stand_in(api_key="test-key") as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def long_lona() -> Iterator[LonaGateway]:
    """A Lona world with enough history to train and hold out data for every model."""
    with running_lona_stand_in(n_strategies=12, initial_bars=900, seed=7) as stand_in:
        yield LonaGateway(base_url=stand_in.base_url, token=stand_in.token, user_id=stand_in.user_id)


def _orders(stand_in: LiveEngineStandIn) -> list[dict]:
    root = stand_in.base_url.split("/api/")[0]
    return httpx.get(f"{root}/_sim/orders", timeout=10).json()["orders"]


def test_allocation_is_published_once_and_the_backtest_reports(long_lona, io_manager, live_engine, tmp_path):
    store = f"sqlite:///{tmp_path / 'decision-store.db'}"
    resources = {
        "io_manager": io_manager,
        "lona": long_lona,
        "market_data": LonaMarketData(lona=long_lona),
        "live_engine": LiveEngineResource(base_url=live_engine.base_url, api_key=live_engine.api_key),
        "news": SimulatedNews(),
        "grok": GrokResource(),
        "kill_switch": KillSwitchResource(database_url=store),
    }
    with dg.instance_for_test() as instance:
        trained = dg.materialize(MODELS, resources=resources, instance=instance)
        assert trained.success
        first = dg.materialize(
            [portfolio_allocation, live_engine_orders, backtest_report, *MODELS],
            resources=resources,
            instance=instance,
            selection=["portfolio_allocation", "live_engine_orders", "backtest_report"],
        )
        assert first.success
        table = first.output_for_node("portfolio_allocation")
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("live_engine_orders")
        ).asset_materialization.metadata
        placed = len(_orders(live_engine))
        again = dg.materialize(
            [portfolio_allocation, live_engine_orders, *MODELS],
            resources=resources,
            instance=instance,
            selection=["portfolio_allocation", "live_engine_orders"],
        )
        assert again.success
        stored = read_allocation(allocation_path(io_manager.base_dir))
        meta_again = instance.get_latest_materialization_event(
            dg.AssetKey("live_engine_orders")
        ).asset_materialization.metadata
        allocation_meta = instance.get_latest_materialization_event(
            dg.AssetKey("portfolio_allocation")
        ).asset_materialization.metadata
        report = instance.get_latest_materialization_event(
            dg.AssetKey("backtest_report")
        ).asset_materialization.metadata
        # The decision service's shared kill switch, set by an admin: the next run adds no risk.
        RiskStore(store).set(True, "alice", "drill")
        stopped = dg.materialize(
            [portfolio_allocation, live_engine_orders, *MODELS],
            resources=resources,
            instance=instance,
            selection=["portfolio_allocation", "live_engine_orders"],
        )
        assert stopped.success
        halted = stopped.output_for_node("portfolio_allocation")
        halted_meta = instance.get_latest_materialization_event(
            dg.AssetKey("portfolio_allocation")
        ).asset_materialization.metadata
        # Released; the service has latched S0 and seen book "default" 30% below its peak.
        RiskStore(store).set(False, "alice", "drill over")
        _serve_decisions(store, [RiskMove("S0", True, 0.999), RiskMove("S1", None, 0.1, "default", 100.0)])
        _serve_decisions(store, [RiskMove("S1", None, 0.1, "default", 70.0, 70.0)])
        drawn = dg.materialize(
            [portfolio_allocation, *MODELS],
            resources=resources,
            instance=instance,
            selection=["portfolio_allocation"],
        )
        assert drawn.success
        drawn_table = drawn.output_for_node("portfolio_allocation")
        drawn_meta = instance.get_latest_materialization_event(
            dg.AssetKey("portfolio_allocation")
        ).asset_materialization.metadata

    assert isinstance(table, pl.DataFrame)
    assert table["target_weight"].abs().max() <= 0.25 + 1e-9
    assert table["target_weight"].abs().sum() <= 1.0 + 1e-9
    assert set(table["action"]) <= {"execute", "reduce", "reject", "halt", "hold"}
    assert placed > 0, table.select(
        "symbol", "target_weight", "desired_weight", "action", "reason_codes", "signal_id", "anomaly_score"
    ).to_dicts()
    assert meta["orders_created"].value == placed
    assert meta_again["allocation_id"].value == meta["allocation_id"].value
    assert meta_again["orders_created"].value == 0
    # The decision service's /v1/allocations/latest reads the same file and names it with the same id.
    assert stored is not None and stored.allocation_id == meta["allocation_id"].value
    assert stored.weights == dict(zip(table["symbol"], table["target_weight"], strict=True))
    assert len(_orders(live_engine)) == placed, "publishing the same allocation twice must not trade twice"
    assert allocation_meta["allocation_id"].value == stored.allocation_id
    assert set(allocation_meta["model_versions"].value) == {
        "trade-nexus-predictor",
        "trade-nexus-volatility",
        "trade-nexus-anomaly",
    }
    assert report["policy_sharpe"].value == report["policy_sharpe"].value  # finite, not NaN
    assert halted_meta["kill_switch"].value is True
    assert (halted_meta["kill_switch_changed_by"].value, halted_meta["kill_switch_reason"].value) == (
        "alice",
        "drill",
    )
    assert "halt" in set(halted["action"]) <= {"halt", "hold"}, "halted, or holding a symbol with no signal"
    assert halted_meta["optimizer_status"].value == "halted"
    assert len(_orders(live_engine)) == placed, "a halted allocation holds the book: no new order"
    assert "equity and drawdown" in report["equity_and_drawdown"].value
    assert drawn_meta["kill_switch"].value is False
    assert (drawn_meta["book"].value, drawn_meta["drawdown"].value) == ("default", pytest.approx(0.3))
    assert drawn_meta["anomaly_halted_symbols"].value == "S0"
    decided = drawn_table.filter(pl.col("signal_id").is_not_null())
    assert decided.height > 0
    assert all("DRAWDOWN_BREAKER" in codes for codes in decided["reason_codes"]), decided.to_dicts()


def _serve_decisions(store: str, moves: list[RiskMove]) -> None:
    """Audit rows with risk moves, as the decision service stores them (its own sink)."""
    sink = open_sink(store)
    try:
        sink.commit(
            [
                (f"d-{move.symbol}-{move.equity}", f"r-{move.symbol}-{move.equity}", datetime.now(UTC),
                 move.symbol, "execute", "{}", "h", 1.0, "{}", "{}", "", move, "", None)
                for move in moves
            ]
        )  # fmt: skip
    finally:
        sink.close()
