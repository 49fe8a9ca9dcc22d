"""Publishing: orders follow the stored allocation only, under its canonical id, one publish at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from nexus_assets.allocation_record import (
    REQUIRED_COLUMNS,
    allocation_id,
    allocation_path,
    read_allocation,
    table_allocation_id,
)
from nexus_assets.defs.allocation.orders import PUBLISH_POOL, live_engine_orders
from nexus_assets.resources.live_engine import LiveEngineResource
from nexus_assets.resources.parquet_io import ParquetIOManager
from nexus_assets.sim.process import LiveEngineStandIn, running_live_engine_stand_in

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-03-02 00:00:00+00:00"
# portfolio_allocation as stored, read back by its IO manager (the asset itself is not run here).
STORED_ALLOCATION = dg.SourceAsset("portfolio_allocation")


@pytest.fixture(scope="module")
def live_engine() -> Iterator[LiveEngineStandIn]:
    with running_live_engine_stand_in(api_key="test-key", symbols=("AAPL", "MSFT", "SPY")) as stand_in:
        yield stand_in


@pytest.fixture
def control(live_engine: LiveEngineStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_engine.base_url, timeout=10) as client:
        yield client
        client.delete("/_sim/faults").raise_for_status()


def _orders(control: httpx.Client) -> list[dict]:
    return control.get("/_sim/orders").raise_for_status().json()["orders"]


def _stored_allocation(io_manager: ParquetIOManager, weights: dict[str, float]) -> pl.DataFrame:
    """A portfolio_allocation table as the asset stores it, written where its IO manager keeps it."""
    rows = [
        {
            "symbol": symbol,
            "target_weight": weight,
            "desired_weight": weight,
            "current_weight": 0.0,
            "action": "execute",
            "confidence": 0.8,
            "reason_codes": "",
            "reasons": "",
            "signal_id": f"sig-{symbol}",
            "predicted_return": 0.001,
            "volatility_forecast": 0.2,
            "anomaly_score": 0.1,
            "price": {"AAPL": 190.0, "MSFT": 410.0, "SPY": 520.0}[symbol],
            "as_of": AS_OF,
        }
        for symbol, weight in weights.items()
    ]
    table = pl.DataFrame(rows, schema=REQUIRED_COLUMNS)
    path = allocation_path(io_manager.base_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(str(path))
    return table


def _publish(
    io_manager: ParquetIOManager, stand_in: LiveEngineStandIn, instance: dg.DagsterInstance, deployment: str
) -> dg.ExecuteInProcessResult:
    """Materialize live_engine_orders: its input is the stored portfolio_allocation."""
    return dg.materialize(
        [STORED_ALLOCATION, live_engine_orders],
        resources={
            "io_manager": io_manager,
            "live_engine": LiveEngineResource(
                base_url=stand_in.base_url, api_key=stand_in.api_key, strategy_id=deployment
            ),
        },
        instance=instance,
        raise_on_error=False,
    )


def test_the_id_is_the_economics_not_the_float_spelling():
    base = allocation_id(AS_OF, {"AAPL": 0.1, "MSFT": 0.0})
    assert allocation_id(AS_OF, {"AAPL": 0.1, "MSFT": -0.0}) == base
    assert allocation_id(AS_OF, {"AAPL": 0.1}) == base, "a symbol at zero is no position"
    assert allocation_id(AS_OF, {"AAPL": 0.1 + 1e-12, "MSFT": 1e-9}) == base
    assert allocation_id("2026-03-02T00:00:00Z", {"AAPL": 0.1}) == base, "one time, two spellings"
    assert allocation_id(AS_OF, {"AAPL": 0.100001}) != base
    assert allocation_id("2026-03-03 00:00:00+00:00", {"AAPL": 0.1}) != base


def test_orders_follow_the_stored_table_and_a_failed_publish_is_retried_from_it(
    tmp_path, live_engine, control
):
    io_manager = ParquetIOManager(base_dir=str(tmp_path / "data"))
    deployment = "publish-retry"
    table = _stored_allocation(io_manager, {"AAPL": 0.2, "MSFT": -0.0, "SPY": 0.1})
    served = read_allocation(allocation_path(io_manager.base_dir))
    assert served is not None and served.allocation_id == table_allocation_id(table)
    before = len(_orders(control))
    with dg.instance_for_test() as instance:
        # The engine cannot be read (every /orders call refused): the publish fails closed,
        # nothing is sent, the stored allocation is untouched.
        control.post(
            "/_sim/faults", json={"status": 400, "count": 100, "path_prefix": "/orders"}
        ).raise_for_status()
        failed = _publish(io_manager, live_engine, instance, deployment)
        assert not failed.success
        assert len(_orders(control)) == before
        control.delete("/_sim/faults").raise_for_status()

        published = _publish(io_manager, live_engine, instance, deployment)
        assert published.success
        orders = published.output_for_node("live_engine_orders")
        again = _publish(io_manager, live_engine, instance, deployment)
        assert again.success
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("live_engine_orders")
        ).asset_materialization.metadata

    assert set(orders["symbol"]) == {"AAPL", "SPY"}
    assert all(key.startswith(f"{served.allocation_id}:") for key in orders["idempotency_key"])
    assert orders["created"].all()
    assert meta["allocation_id"].value == served.allocation_id
    assert (meta["orders_created"].value, meta["orders_already_placed"].value) == (0, 2)
    assert len(_orders(control)) == before + 2, "the same stored allocation trades once"


def test_refused_orders_fail_the_publish_checks_not_the_run(tmp_path, live_engine, control):
    io_manager = ParquetIOManager(base_dir=str(tmp_path / "data"))
    _stored_allocation(io_manager, {"AAPL": 0.2, "MSFT": 0.1})
    control.post(
        "/_sim/faults",
        json={
            "status": 400,
            "count": 1,
            "method": "POST",
            "path_prefix": "/orders",
            "body": '{"error": "no"}',
        },
    ).raise_for_status()
    with dg.instance_for_test() as instance:
        result = _publish(io_manager, live_engine, instance, "publish-refused")
        assert result.success, "a refused order is reported, not retried by re-running the step"
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("live_engine_orders")
        ).asset_materialization.metadata
    assert not checks["engine_holds_intended_orders"].passed
    assert "rejected by the engine (no)" in checks["engine_holds_intended_orders"].metadata["problems"].value
    assert not checks["book_matches_target"].passed
    assert checks["book_matches_target"].severity == dg.AssetCheckSeverity.WARN
    assert checks["book_matches_target"].metadata["divergent_symbols"].value == 1
    assert (meta["orders_created"].value, meta["orders_rejected"].value) == (1, 1)
    assert result.output_for_node("live_engine_orders")["symbol"].to_list() == ["MSFT"]


def test_without_a_live_engine_nothing_is_published_and_the_reason_is_shown(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVE_ENGINE_URL", raising=False)
    io_manager = ParquetIOManager(base_dir=str(tmp_path / "data"))
    _stored_allocation(io_manager, {"AAPL": 0.2})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [STORED_ALLOCATION, live_engine_orders],
            resources={"io_manager": io_manager, "live_engine": LiveEngineResource()},
            instance=instance,
        )
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("live_engine_orders")
        ).asset_materialization.metadata
    assert result.output_for_node("live_engine_orders").is_empty()
    assert (meta["published"].value, meta["reason"].value) == (False, "LIVE_ENGINE_URL is not set")


def test_one_publish_at_a_time_across_runs(tmp_path, live_engine, control):
    """While another run holds the `live_engine` slot, a publish waits and places nothing."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    io_manager = ParquetIOManager(base_dir=str(tmp_path / "data"))
    deployment = "publish-pool"
    _stored_allocation(io_manager, {"AAPL": 0.05, "MSFT": 0.05})
    before = len(_orders(control))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert live_engine_orders.op.pool == PUBLISH_POOL
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(PUBLISH_POOL)
        assert storage.get_concurrency_info(PUBLISH_POOL).slot_count == 1
        holder = storage.claim_concurrency_slot(PUBLISH_POOL, "another-run", "live_engine_orders")
        assert holder.is_claimed
        results: list[dg.ExecuteInProcessResult] = []
        waiting = threading.Thread(
            target=lambda: results.append(_publish(io_manager, live_engine, instance, deployment))
        )
        waiting.start()
        time.sleep(4)
        assert waiting.is_alive(), "the publish must wait for the slot"
        assert len(_orders(control)) == before
        storage.free_concurrency_slots_for_run("another-run")
        waiting.join(timeout=60)
    assert results and results[0].success
    assert len(_orders(control)) == before + 2


def test_the_instance_monitors_runs_and_jobs_bound_their_run_time(tmp_path):
    from nexus_assets.defs import jobs

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds <= 300
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
    assert jobs.lona_signals_job.run_tags["dagster/max_runtime"] == str(15 * 60)
    assert int(jobs.nexus_main_job.run_tags["dagster/max_runtime"]) <= 2 * 60 * 60
