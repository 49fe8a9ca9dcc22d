"""The client's resources end to end against a real stand-in process."""

from __future__ import annotations

import ast
import math
from datetime import UTC, date, datetime

import httpx
import polars as pl
import pytest

from nexus_assets.lona import (
    LonaClient,
    LonaReportFailedError,
    LonaReportTimeoutError,
    LonaValidationError,
)
from nexus_assets.lona.symbol_data import bars_to_csv
from nexus_assets.lona.wire import format_time
from nexus_assets.ml.bars import BAR_SCHEMA
from nexus_assets.sim.market import DEFAULT_SYMBOLS, MarketSimConfig, simulate_market


def test_strategies_are_paged_past_one_hundred(client, sim, n_strategies):
    strategies = client.list_strategies()
    total = sim.state()["strategies"]
    assert total >= n_strategies > 100
    assert len(strategies) == total
    assert len({s["id"] for s in strategies}) == total
    assert sim.attempts("GET", "/strategies") == math.ceil(total / 100)


def test_small_pages_visit_every_item_once(client, sim):
    names = [s["name"] for s in client.iter_pages("/symbols", page_size=3)]
    assert names == [s["name"] for s in client.list_symbols()]
    assert set(DEFAULT_SYMBOLS) <= set(names)


def test_server_caps_the_page_size(lona_stand_in, n_strategies):
    headers = {"X-API-Key": lona_stand_in.token, "X-User-Id": lona_stand_in.user_id}
    response = httpx.get(f"{lona_stand_in.base_url}/strategies", params={"limit": 1000}, headers=headers)
    page = response.json()["data"]
    assert len(page["items"]) == 100
    assert page["has_next"] is True
    assert page["total"] >= n_strategies


def test_strategy_has_readable_backtrader_code(client):
    summary = client.list_strategies()[0]
    strategy = client.get_strategy(summary["id"])
    assert strategy["language"] == "python"
    assert {"id", "name", "description", "version", "code", "created_at"} <= set(strategy)
    tree = ast.parse(strategy["code"])
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert classes
    assert "bt.Strategy" in strategy["code"]


def test_symbol_data_is_the_simulated_market_prefix(client, sim):
    symbol = next(s for s in client.list_symbols() if s["name"] == "MSFT")
    state = sim.state()
    revealed, start = state["revealed_bars"], date.fromisoformat(state["start"])
    expected = simulate_market(MarketSimConfig(n_bars=revealed, seed=7, start=start)).filter(
        pl.col("symbol") == "MSFT"
    )
    assert format_time(expected["timestamp"][-1]) == state["last_bar"]
    bars = client.get_symbol_data(symbol["id"])
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars.equals(expected)

    sim.tick()
    grown = client.get_symbol_data(symbol["id"])
    longer = simulate_market(MarketSimConfig(n_bars=revealed + 1, seed=7, start=start)).filter(
        pl.col("symbol") == "MSFT"
    )
    assert grown.height == bars.height + 1
    assert grown.equals(longer)
    assert client.get_symbol(symbol["id"])["data_range"]["end"].startswith(
        grown["timestamp"][-1].strftime("%Y-%m-%dT%H:%M:%S")
    )


def test_symbol_data_respects_the_date_range(client):
    symbol = next(s for s in client.list_symbols() if s["name"] == "AAPL")
    start = datetime(2022, 3, 1, tzinfo=UTC)
    end = datetime(2022, 3, 31, 23, 59, tzinfo=UTC)
    bars = client.get_symbol_data(symbol["id"], start=start, end=end)
    assert 15 <= bars.height <= 23
    assert bars["timestamp"].min() >= start
    assert bars["timestamp"].max() <= end
    assert set(bars["symbol"]) == {"AAPL"}


def test_runner_flow_from_run_to_full_report(client, sim):
    strategy = client.list_strategies()[1]
    symbols = {s["name"]: s["id"] for s in client.list_symbols()}
    data_ids = [symbols[name] for name in ("AAPL", "JPM")]
    days = client.get_symbol_data(data_ids[0])["timestamp"].dt.date()
    start, end = days[100].isoformat(), days[600].isoformat()
    report_id = client.run_backtest(strategy["id"], data_ids, start, end, {"initial_cash": 50_000})
    first = client.get_report_status(report_id)
    assert first["status"] in {"PENDING", "EXECUTING"}
    assert 0.0 <= first["progress"] < 1.0

    report = client.wait_for_report(report_id, timeout_s=10, poll_s=0.05)
    assert report["status"] == "COMPLETED"
    assert report["strategy_id"] == strategy["id"]
    stats = report["total_stats"]
    assert set(stats) == {"total_return", "sharpe_ratio", "max_drawdown", "win_rate", "total_trades"}
    assert stats["max_drawdown"] <= 0.0
    assert 0.0 <= stats["win_rate"] <= 1.0

    full = client.get_full_report(report_id)
    trades, timeline = full["trades"], full["backtest_timeline"]
    assert len(trades) == stats["total_trades"] > 0
    assert {t["symbol"] for t in trades} <= {"AAPL", "JPM"}
    for trade in trades:
        assert trade["side"] in {"long", "short"}
        assert start <= trade["entry_time"][:10] <= end
        assert (trade["exit_time"] is None) == (trade["exit_price"] is None)
        if trade["exit_time"] is not None:
            assert trade["exit_time"] > trade["entry_time"]
    assert timeline[0]["timestamp"].startswith(start)
    assert timeline[-1]["timestamp"].startswith(end)
    pnl = sum(t["pnl"] for t in trades)
    assert timeline[-1]["equity"] - 50_000 == pytest.approx(pnl, abs=1e-6)
    assert stats["total_return"] == pytest.approx(pnl / 50_000, abs=1e-7)
    assert client.list_reports(strategy_id=strategy["id"])[0]["id"] == report_id


def test_run_with_unknown_data_id_fails(client):
    strategy = client.list_strategies()[0]
    report_id = client.run_backtest(strategy["id"], ["no-such-data"], "2022-01-01", "2022-12-31")
    with pytest.raises(LonaReportFailedError, match="no-such-data"):
        client.wait_for_report(report_id, timeout_s=10, poll_s=0.05)
    assert client.get_report_status(report_id)["status"] == "FAILED"


def test_a_failed_reports_reason_is_read_from_the_report_body(client, sim):
    """Lona's ``/status`` carries no reason; the original backend reads it from ``GET /reports/{id}``."""
    strategy = client.list_strategies()[0]
    report_id = client.run_backtest(strategy["id"], ["gone-data"], "2022-01-01", "2022-12-31")
    with pytest.raises(LonaReportFailedError) as caught:
        client.wait_for_report(report_id, timeout_s=10, poll_s=0.05)
    assert "error" not in client.get_report_status(report_id)
    assert client.get_report(report_id)["error"] in caught.value.message
    assert "unknown data id(s): gone-data" in caught.value.message
    assert caught.value.path == f"/reports/{report_id}"
    assert caught.value.code == "report_failed"
    assert sim.attempts("GET", f"/reports/{report_id}") == 2


def test_wait_for_report_times_out(client):
    strategy = client.list_strategies()[0]
    symbol = client.list_symbols()[0]
    report_id = client.run_backtest(strategy["id"], [symbol["id"]], "2022-01-01", "2022-12-31")
    with pytest.raises(LonaReportTimeoutError, match=report_id):
        client.wait_for_report(report_id, timeout_s=0.0, poll_s=0.01)


def test_new_reports_arrive_with_each_tick(client, sim):
    before = client.list_reports(status="COMPLETED")
    tick = sim.tick()
    after = client.list_reports(status="COMPLETED")
    assert len(after) == len(before) + 1
    newest = after[0]
    assert newest["id"] == tick["report_id"]
    assert newest["strategy_id"] == tick["strategy_id"]
    assert newest["end_date"] == tick["last_bar"]
    assert newest["created_at"] > before[0]["created_at"]
    latest = client.latest_completed_report(tick["strategy_id"])
    assert latest is not None
    assert latest["id"] == tick["report_id"]

    second = sim.tick()
    assert second["strategy_id"] != tick["strategy_id"]
    assert second["revealed_bars"] == tick["revealed_bars"] + 1


def test_every_strategy_starts_with_a_completed_report(client):
    strategies = client.list_strategies()[:5]
    for strategy in strategies:
        report = client.latest_completed_report(strategy["id"])
        assert report is not None
        assert report["status"] == "COMPLETED"


def test_csv_upload_round_trips(client):
    bars = simulate_market(MarketSimConfig(symbols=("UPL",), n_bars=60, seed=3))
    created = client.upload_symbol_csv("UPLOADED1", bars_to_csv(bars))
    assert created["name"] == "UPLOADED1"
    assert created["frequencies"] == ["1d"]
    assert any(s["id"] == created["id"] for s in client.list_symbols())
    back = client.get_symbol_data(created["id"])
    assert back.equals(bars.with_columns(pl.lit("UPLOADED1").alias("symbol")))


def test_csv_upload_with_a_bad_row_names_row_and_column(client):
    csv = (
        b"timestamp,open,high,low,close,volume\n"
        b"2024-01-02T21:00:00Z,10,11,9,10.5,100\n"
        b"2024-01-03T21:00:00Z,10.5,11,10,10.8,100\n"
        b"2024-01-04T21:00:00Z,10.8,11,10,oops,100\n"
    )
    with pytest.raises(LonaValidationError) as caught:
        client.upload_symbol_csv("BADCSV", csv)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_csv"
    assert "row 3" in caught.value.message
    assert "column 'close'" in caught.value.message


def test_csv_upload_with_inconsistent_prices_is_rejected(client):
    csv = b"timestamp,open,high,low,close,volume\n2024-01-02T21:00:00Z,10,9,8,10.5,100\n"
    with pytest.raises(LonaValidationError, match="row 1, column 'high'"):
        client.upload_symbol_csv("BADHIGH", csv)


def test_created_strategy_can_be_run(client):
    created = client.create_strategy(
        "My breakout",
        "a user strategy",
        template="donchian_breakout",
        parameters={"entry": 30, "exit": 10},
        symbols=["SPY"],
    )
    assert client.get_strategy(created["id"])["name"] == "My breakout"
    spy = next(s for s in client.list_symbols() if s["name"] == "SPY")
    report_id = client.run_backtest(created["id"], [spy["id"]], "2021-03-01", "2023-03-01")
    report = client.wait_for_report(report_id, timeout_s=10, poll_s=0.05)
    assert report["total_stats"]["total_trades"] > 0


@pytest.mark.parametrize("form", ["host", "host/", "base", "base/"])
def test_the_gateway_url_may_be_the_host_or_the_api_base(lona_stand_in, form):
    """The original backend sets LONA_GATEWAY_URL to the host (its paths start /api/v1/)."""
    root = lona_stand_in.root_url if form.startswith("host") else lona_stand_in.base_url
    url = root + "/" if form.endswith("/") else root
    with LonaClient(url, lona_stand_in.token, lona_stand_in.user_id, max_attempts=1) as client:
        assert client.base_url == lona_stand_in.base_url
        assert client.list_strategies()
