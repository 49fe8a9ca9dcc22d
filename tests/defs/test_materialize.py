"""Materialize the foundation assets in process against the Lona stand-in process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from nexus_assets.defs.features import checks as feature_checks
from nexus_assets.defs.features.assets import features
from nexus_assets.defs.lona import checks as lona_checks
from nexus_assets.defs.lona.assets import lona_signals, lona_strategies
from nexus_assets.defs.market import checks as market_checks
from nexus_assets.defs.market.assets import market_bars
from nexus_assets.ml.bars import validate_bars
from nexus_assets.ml.features import FEATURE_COLUMNS
from nexus_assets.resources.market_data import (
    FileMarketData,
    LonaMarketData,
    MarketDataSource,
    SimulatedMarketData,
)

ASSETS = [market_bars, lona_strategies, lona_signals, features]
CHECKS = [
    *dg.load_asset_checks_from_modules([market_checks]),
    *dg.load_asset_checks_from_modules([lona_checks]),
    *dg.load_asset_checks_from_modules([feature_checks]),
]


def _materialize(selection, resources, instance, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*selection, *CHECKS], resources=resources, instance=instance, raise_on_error=False, **kwargs
    )


def _stored(tmp_path: Path, key: str) -> pl.DataFrame:
    return pl.read_parquet(tmp_path / "data" / f"{key}.parquet")


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}


def test_whole_foundation_graph_from_lona(tmp_path, lona_gateway, io_manager, symbols):
    market = LonaMarketData(lona=lona_gateway)
    with dg.instance_for_test() as instance:
        result = _materialize(
            ASSETS, {"io_manager": io_manager, "lona": lona_gateway, "market_data": market}, instance
        )
        assert result.success
        checks = _check_results(result)
        assert checks.pop("bars_fresh") in (True, False)  # freshness depends on the stand-in's clock
        assert checks and all(checks.values()), checks
        bars_event = instance.get_latest_materialization_event(dg.AssetKey("market_bars"))
        row_count = bars_event.asset_materialization.metadata["dagster/row_count"].value

    bars = _stored(tmp_path, "market_bars")
    assert row_count == bars.height == len(symbols) * 320
    assert validate_bars(bars, source="stored").equals(bars)
    strategies = _stored(tmp_path, "lona_strategies")
    assert strategies.height == 5 and strategies["report_id"].null_count() == 0
    assert strategies["code"].str.contains("backtrader").all()
    signals = _stored(tmp_path, "lona_signals")
    assert signals.height > 0
    assert set(signals["side"].unique()) <= {"buy", "sell", "flat"}
    assert signals["signal_id"].is_unique().all()
    assert set(signals["strategy_id"]) <= set(strategies["strategy_id"])
    feats = _stored(tmp_path, "features")
    assert set(feats.columns) >= set(FEATURE_COLUMNS)
    assert feats["sig_count_21"].sum() > 0, "signals from the same market must show in features"


def test_simulator_source_is_fresh_and_passes_every_check(io_manager, symbols):
    market = SimulatedMarketData(symbols=list(symbols), n_bars=200)
    with dg.instance_for_test() as instance:
        result = _materialize([market_bars], {"io_manager": io_manager, "market_data": market}, instance)
    assert result.success
    assert _check_results(result) == {
        "ohlc_consistent": True,
        "timestamps_unique_and_ordered": True,
        "no_forbidden_nulls": True,
        "bars_fresh": True,
    }


GOOD = "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,11,9.5,10,200\n"


def test_failed_file_load_leaves_the_stored_bars_untouched(tmp_path, io_manager):
    folder = tmp_path / "bars"
    folder.mkdir()
    (folder / "AAA.csv").write_text(GOOD)
    resources = {"io_manager": io_manager, "market_data": FileMarketData(path=str(folder))}
    with dg.instance_for_test() as instance:
        assert _materialize([market_bars], resources, instance).success
        before = _stored(tmp_path, "market_bars")
        (folder / "AAA.csv").write_text(GOOD.replace("10.5,11,9.5,10", "10.5,9,9.5,10"))
        failed = _materialize([market_bars], resources, instance)
    assert not failed.success
    message = str(failed.get_step_failure_events()[0].event_specific_data.error)
    assert "AAA.csv, row 3, column 'high': high is below low" in message
    assert _stored(tmp_path, "market_bars").equals(before)


def test_lona_outage_fails_the_run_with_the_status_and_keeps_old_data(
    tmp_path, lona_gateway, io_manager, lona_faults
):
    resources = {"io_manager": io_manager, "lona": lona_gateway}
    with dg.instance_for_test() as instance:
        assert _materialize([lona_strategies], resources, instance).success
        before = _stored(tmp_path, "lona_strategies")
        lona_faults.post("/_sim/faults", json={"status": 503, "count": 50}).raise_for_status()
        failed = _materialize([lona_strategies], resources, instance)
    assert not failed.success
    message = str(failed.get_step_failure_events()[0].event_specific_data.error)
    assert "LonaServerError" in message and "503" in message
    assert _stored(tmp_path, "lona_strategies").equals(before)


class UnvalidatedParquetBars(MarketDataSource):
    """Test resource: hands over a Parquet file as-is, to show what the checks catch."""

    path: str

    def load_bars(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)


def test_failing_blocking_check_is_reported_and_stops_downstream(tmp_path, io_manager):
    bars = SimulatedMarketData(symbols=["AAA"], n_bars=120, end_date="2026-11-20").load_bars()
    broken = pl.concat([bars, bars.tail(1)])  # a duplicated bar
    broken.write_parquet(tmp_path / "broken.parquet")
    empty_signals = pl.DataFrame(schema=lona_signals_schema())

    @dg.asset(name="lona_signals", group_name="lona")
    def fixed_signals() -> pl.DataFrame:
        return empty_signals

    resources = {
        "io_manager": io_manager,
        "market_data": UnvalidatedParquetBars(path=str(tmp_path / "broken.parquet")),
    }
    with dg.instance_for_test() as instance:
        result = _materialize([market_bars, fixed_signals, features], resources, instance)
        checks = _check_results(result)
        assert checks["timestamps_unique_and_ordered"] is False
        assert instance.get_latest_materialization_event(dg.AssetKey("features")) is None
    assert not result.success


def lona_signals_schema() -> dict:
    from nexus_assets.lona.signals import SIGNAL_SCHEMA

    return SIGNAL_SCHEMA


@pytest.mark.parametrize("source", ["simulator", "file", "lona"])
def test_market_source_is_chosen_by_environment(monkeypatch, source):
    from nexus_assets.resources.lona import LonaGateway
    from nexus_assets.resources.market_data import market_data_from_env

    monkeypatch.setenv("NEXUS_MARKET_SOURCE", source)
    monkeypatch.setenv("NEXUS_MARKET_PATH", "/tmp")
    gateway = LonaGateway(base_url="http://127.0.0.1:1/api/v1", token="t", user_id="u")
    expected = {"simulator": SimulatedMarketData, "file": FileMarketData, "lona": LonaMarketData}[source]
    assert isinstance(market_data_from_env(gateway), expected)
