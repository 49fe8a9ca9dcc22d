"""The stand-in's world and backtest engine, in process: determinism, no look-ahead, books."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from nexus_assets.lona.wire import format_time
from nexus_assets.sim.lona_backtest import SimulationParameters, run_backtest
from nexus_assets.sim.lona_records import WorldError
from nexus_assets.sim.lona_world import LonaWorld, WorldConfig
from nexus_assets.sim.market import MarketSimConfig, simulate_market
from nexus_assets.sim.strategies import TEMPLATES, build_strategy, generate_strategies, positions

SMALL = WorldConfig(
    seed=11, symbols=("AAA", "BBB", "CCC"), n_strategies=6, initial_bars=300, horizon_bars=305
)
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)


def full_reports(world: LonaWorld) -> list[dict]:
    return [world.full_report(r["id"]) for r in world.list_reports(None, "COMPLETED")]


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("AAA", "BBB"), n_bars=600, seed=5))


def test_same_seed_and_ticks_give_the_same_world():
    one, two = (LonaWorld(SMALL, clock=lambda: CLOCK) for _ in range(2))
    for world in (one, two):
        world.tick()
        world.tick()
    assert one.list_strategies() == two.list_strategies()
    assert one.list_symbols() == two.list_symbols()
    assert full_reports(one) == full_reports(two)
    assert len(full_reports(one)) == SMALL.n_strategies + 2


def test_another_seed_gives_other_strategies():
    other = LonaWorld(WorldConfig(**{**SMALL.__dict__, "seed": 12}))
    ids = {s["id"] for s in LonaWorld(SMALL).list_strategies()}
    assert ids.isdisjoint(s["id"] for s in other.list_strategies())


def test_every_strategy_starts_with_one_completed_report():
    world = LonaWorld(SMALL)
    for strategy in world.list_strategies():
        reports = world.list_reports(strategy["id"], None)
        assert [r["status"] for r in reports] == ["COMPLETED"]


def test_all_templates_appear_and_their_code_parses():
    strategies = generate_strategies(3, ("AAA", "BBB"), 8, CLOCK)
    assert {s.template for s in strategies} == set(TEMPLATES)
    for strategy in strategies:
        tree = ast.parse(strategy.code)
        assert any(isinstance(node, ast.ClassDef) for node in ast.walk(tree))
        for value in strategy.params.values():
            assert repr(value) in strategy.code


def test_ticks_reveal_bars_until_the_horizon():
    world = LonaWorld(SMALL)
    seen = [world.tick()["revealed_bars"] for _ in range(8)]
    assert seen == [301, 302, 303, 304, 305, 305, 305, 305]
    assert world.state()["reports"] == SMALL.n_strategies + 8


def test_tick_reports_cover_the_newly_revealed_bar():
    world = LonaWorld(SMALL)
    tick = world.tick()
    report = world.full_report(tick["report_id"])
    assert report["end_date"] == tick["last_bar"]
    assert report["backtest_timeline"][-1]["timestamp"] == tick["last_bar"]


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("allow_short", [False, True])
def test_positions_never_look_ahead(market, template, allow_short):
    bars = market.filter(pl.col("symbol") == "AAA")
    params = {**TEMPLATES[template].defaults, "allow_short": allow_short}
    full = positions(template, params, bars)
    for cut in range(60, 600, 9):
        assert np.array_equal(positions(template, params, bars.head(cut)), full[:cut]), cut
    assert set(np.unique(full)) <= ({-1, 0, 1} if allow_short else {0, 1})
    assert (full != 0).any()


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_backtest_books_balance(market, template):
    spec = build_strategy("st", template, {"allow_short": True}, ("AAA", "BBB"), CLOCK)
    bars = {name: frame for (name,), frame in market.group_by("symbol")}
    start = datetime(2021, 6, 1, tzinfo=UTC)
    end = datetime(2023, 1, 1, tzinfo=UTC)
    simulation = SimulationParameters(initial_cash=10_000.0, commission=0.002)
    result = run_backtest(spec.id, template, spec.params, bars, start, end, simulation)

    equity = result.timeline["equity"]
    pnl = sum(t["pnl"] for t in result.trades)
    assert equity[-1] - 10_000.0 == pytest.approx(pnl, abs=1e-6)
    assert result.timeline["timestamp"].min() >= start
    assert result.timeline["timestamp"].max() < end
    stats = result.total_stats
    assert stats["total_trades"] == len(result.trades) > 0
    assert stats["max_drawdown"] <= 0.0
    peak = np.maximum.accumulate(np.concatenate([[10_000.0], equity.to_numpy()]))
    worst = np.min(np.concatenate([[10_000.0], equity.to_numpy()]) / peak - 1.0)
    assert stats["max_drawdown"] == pytest.approx(worst, abs=1e-7)
    assert stats["total_return"] == pytest.approx(equity[-1] / 10_000.0 - 1.0, abs=1e-7)

    for symbol in ("AAA", "BBB"):
        own = [t for t in result.trades if t["symbol"] == symbol]
        for earlier, later in itertools.pairwise(own):
            assert earlier["exit_time"] is not None
            assert earlier["exit_time"] <= later["entry_time"]
        for trade in own:
            if trade["exit_time"] is None:
                continue
            direction = 1 if trade["side"] == "long" else -1
            gross = direction * trade["quantity"] * (trade["exit_price"] - trade["entry_price"])
            fees = 0.002 * trade["quantity"] * (trade["entry_price"] + trade["exit_price"])
            assert trade["pnl"] == pytest.approx(gross - fees)
            closes = bars[symbol].filter(
                pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ") == trade["exit_time"]
            )["close"]
            assert closes.to_list() == [trade["exit_price"]]


def test_later_report_extends_the_earlier_trades(market):
    spec = build_strategy("st", "sma_crossover", {"fast": 5, "slow": 20}, ("AAA",), CLOCK)
    bars = {"AAA": market.filter(pl.col("symbol") == "AAA")}
    start = datetime(2021, 3, 1, tzinfo=UTC)
    simulation = SimulationParameters()
    short = run_backtest(
        spec.id, spec.template, spec.params, bars, start, datetime(2022, 1, 1, tzinfo=UTC), simulation
    )
    long = run_backtest(
        spec.id, spec.template, spec.params, bars, start, datetime(2023, 1, 1, tzinfo=UTC), simulation
    )
    closed = [t for t in short.trades if t["exit_time"] is not None]
    assert closed == long.trades[: len(closed)]
    still_open = [t for t in short.trades if t["exit_time"] is None]
    for trade in still_open:
        match = next(t for t in long.trades if t["id"] == trade["id"])
        assert match["entry_time"] == trade["entry_time"]


def test_world_refuses_bad_requests():
    world = LonaWorld(SMALL)
    strategy_id = world.list_strategies()[0]["id"]
    with pytest.raises(WorldError) as caught:
        world.submit_run(strategy_id, ["x"], "2022-02-30", "2022-03-01", None)
    assert caught.value.status == 422
    with pytest.raises(WorldError) as caught:
        world.submit_run(strategy_id, ["x"], "2022-01-01", "2022-03-01", {"leverage": 3})
    assert "leverage" in caught.value.message
    with pytest.raises(WorldError) as caught:
        world.submit_run("nope", ["x"], "2022-01-01", "2022-03-01", None)
    assert caught.value.status == 404
    with pytest.raises(WorldError) as caught:
        world.create_strategy("x", "", None, "sma_crossover", {"fast": -2}, None)
    assert "parameters.fast" in caught.value.message


def test_revealed_bars_end_at_the_newest_close_and_match_the_simulator_source():
    from nexus_assets.resources.market_data import SimulatedMarketData
    from nexus_assets.sim.market import latest_close

    world = LonaWorld(WorldConfig(seed=7, symbols=("AAA", "BBB"), n_strategies=2), clock=lambda: CLOCK)
    assert world.state()["last_bar"] == format_time(latest_close(CLOCK))
    source = SimulatedMarketData(
        symbols=["AAA", "BBB"], seed=7, end_date=latest_close(CLOCK).date().isoformat()
    )
    served = pl.concat([world.symbol_bars(s["id"], None, None)[1] for s in world.list_symbols()]).sort(
        "symbol", "timestamp"
    )
    assert served.equals(source.load_bars())


def test_old_reports_are_pruned_per_strategy():
    config = WorldConfig(
        seed=3, symbols=("AAA",), n_strategies=2, initial_bars=150, reports_kept_per_strategy=3
    )
    world = LonaWorld(config, clock=lambda: CLOCK)
    for _ in range(10):
        world.tick()
    per_strategy = {}
    for report in world.list_reports(None, None):
        per_strategy[report["strategy_id"]] = per_strategy.get(report["strategy_id"], 0) + 1
    assert sorted(per_strategy.values()) == [3, 3]
    newest = world.list_reports(None, "COMPLETED")[0]
    assert world.full_report(newest["id"])["id"] == newest["id"]
