"""Signals from reports: sides, stable ids, strength, and payload errors that say where."""

from __future__ import annotations

import math

import polars as pl
import pytest

from nexus_assets.lona import (
    SIGNAL_SCHEMA,
    LonaPayloadError,
    LonaProtocolError,
    empty_signals,
    signal_strength,
    signals_from_report,
)

STATS = {
    "total_return": 0.12,
    "sharpe_ratio": 1.1,
    "max_drawdown": -0.08,
    "win_rate": 0.55,
    "total_trades": 3,
}


def trade(**overrides):
    base = {
        "id": "tr_1",
        "symbol": "AAPL",
        "side": "long",
        "entry_time": "2024-01-02T21:00:00Z",
        "entry_price": 100.0,
        "exit_time": "2024-01-10T21:00:00Z",
        "exit_price": 104.0,
        "quantity": 10.0,
        "pnl": 40.0,
    }
    return {**base, **overrides}


def report(trades, report_id="rep-1", **overrides):
    return {
        "id": report_id,
        "strategy_id": "st-1",
        "status": "COMPLETED",
        "total_stats": STATS,
        "trades": trades,
        **overrides,
    }


STRATEGY = {"id": "st-1", "name": "test strategy"}


def test_entries_and_exits_map_to_sides():
    trades = [
        trade(),
        trade(
            id="tr_2",
            side="short",
            entry_time="2024-01-10T21:00:00Z",
            entry_price=104.0,
            exit_time=None,
            exit_price=None,
        ),
    ]
    signals = signals_from_report(STRATEGY, report(trades))
    assert signals.schema == pl.Schema(SIGNAL_SCHEMA)
    assert signals.select("side", "price").rows() == [("buy", 100.0), ("flat", 104.0), ("sell", 104.0)]
    assert set(signals["report_id"]) == {"rep-1"}
    assert set(signals["strategy_id"]) == {"st-1"}
    assert signals["total_trades"].to_list() == [3, 3, 3]
    assert signals["timestamp"].dtype == pl.Datetime("us", "UTC")


def test_ids_are_stable_across_reports_and_time_formats():
    older = signals_from_report(STRATEGY, report([trade(exit_time=None, exit_price=None)], "rep-1"))
    newer = signals_from_report(
        STRATEGY,
        report(
            [trade(entry_time="2024-01-02T16:00:00-05:00"), trade(id="tr_9", symbol="MSFT")],
            "rep-2",
        ),
    )
    assert set(older["signal_id"]) < set(newer["signal_id"])
    assert all(s.startswith("sig_") and len(s) == 20 for s in newer["signal_id"])
    assert newer["signal_id"].n_unique() == newer.height


def test_ids_differ_by_strategy():
    one = signals_from_report(STRATEGY, report([trade()]))
    other = signals_from_report({"id": "st-2"}, report([trade()], strategy_id="st-2"))
    assert set(one["signal_id"]).isdisjoint(other["signal_id"])


def test_strength_is_bounded_and_increasing_in_sharpe():
    values = [
        signal_strength({**STATS, "sharpe_ratio": s, "total_trades": 40})
        for s in (-5.0, -1.0, 0.0, 0.5, 1.0, 3.0, 100.0)
    ]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_strength_grows_with_evidence_and_is_zero_without_trades():
    few = signal_strength({**STATS, "total_trades": 2})
    many = signal_strength({**STATS, "total_trades": 50})
    assert 0.0 < few < many <= 1.0
    assert signal_strength({**STATS, "total_trades": 0}) == 0.0


def test_strength_extremes_stay_in_bounds():
    best = signal_strength({**STATS, "sharpe_ratio": 1e9, "win_rate": 1.0, "total_trades": 10**6})
    worst = signal_strength({**STATS, "sharpe_ratio": -1e9, "win_rate": 0.0, "total_trades": 1})
    assert 0.99 < best <= 1.0
    assert 0.0 <= worst < 0.01


def test_no_trades_gives_the_empty_frame():
    signals = signals_from_report(STRATEGY, report([]))
    assert signals.is_empty()
    assert signals.schema == empty_signals().schema == pl.Schema(SIGNAL_SCHEMA)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"entry_price": None}, "entry_price"),
        ({"entry_price": math.nan}, "entry_price"),
        ({"exit_price": math.inf}, "exit_price"),
        ({"entry_price": -3.0}, "entry_price"),
        ({"side": "sideways"}, "side"),
        ({"entry_time": "yesterday"}, "entry_time"),
        ({"exit_time": "2024-13-45"}, "exit_time"),
        ({"symbol": ""}, "symbol"),
        ({"exit_time": None}, "exit_time"),
    ],
)
def test_bad_trades_name_field_and_trade(bad, field):
    trades = [trade(), trade(id="tr_bad", **bad)]
    with pytest.raises(LonaPayloadError) as caught:
        signals_from_report(STRATEGY, report(trades))
    error = caught.value
    assert isinstance(error, LonaProtocolError)
    assert isinstance(error, ValueError)
    assert error.field == field
    assert error.index == 1
    assert f"field '{field}'" in str(error)
    assert "trades[1]" in str(error)
    assert "tr_bad" in str(error)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (report([trade()], total_stats={**STATS, "sharpe_ratio": "high"}), "total_stats.sharpe_ratio"),
        (
            report([trade()], total_stats={k: v for k, v in STATS.items() if k != "win_rate"}),
            "total_stats.win_rate",
        ),
        (report(None), "trades"),
        (report([trade()], status="FAILED"), "status"),
        (report([trade()], strategy_id="someone-else"), "strategy_id"),
        (report(["not a trade"]), "trade"),
    ],
)
def test_bad_reports_name_the_field(payload, field):
    with pytest.raises(LonaPayloadError) as caught:
        signals_from_report(STRATEGY, payload)
    assert caught.value.field == field


def test_signals_from_stand_in_reports_keep_their_ids(client):
    strategy = client.list_strategies()[2]
    spy = next(s for s in client.list_symbols() if s["name"] == "SPY")
    reports = []
    for end in ("2022-06-30", "2023-06-30"):
        report_id = client.run_backtest(strategy["id"], [spy["id"]], "2021-03-01", end)
        client.wait_for_report(report_id, timeout_s=10, poll_s=0.05)
        reports.append(client.get_full_report(report_id))
    earlier, later = (signals_from_report(strategy, r) for r in reports)
    assert not earlier.is_empty()
    assert set(earlier["signal_id"]) <= set(later["signal_id"])
    assert later.height > earlier.height
    assert set(later["side"]) <= {"buy", "sell", "flat"}
    assert later["strength"].is_between(0.0, 1.0).all()
    assert later["timestamp"].is_sorted()
