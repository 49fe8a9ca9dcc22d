"""A run that fails mid-way is recorded where an operator looks and re-executes from failure.

On the production instance config (PostgreSQL): `lona_signals_job` fails at `lona_signals`
while Lona answers 500 for full reports; `nexus_run_failure_sensor` records the failure; once
Lona is back, re-executing from failure runs only the failed step.
"""

from __future__ import annotations

import dagster as dg
import pytest

from nexus_assets.definitions import defs
from nexus_assets.defs.operations.assets import RUN_FAILURES
from nexus_assets.defs.operations.sensors import FAILURE_TAG, nexus_run_failure_sensor
from nexus_assets.resources.market_data import SimulatedMarketData
from nexus_assets.resources.parquet_io import ParquetIOManager

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RESOURCES = {"market_data": SimulatedMarketData(), "io_manager": ParquetIOManager()}


def signals_job() -> dg.JobDefinition:
    """The signal job's Lona steps (the allocation after them needs models this test does not train)."""
    return (
        defs()
        .resolve_job_def("lona_signals_job")
        .get_subset(asset_selection={dg.AssetKey("lona_strategies"), dg.AssetKey("lona_signals")})
    )


def _steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
    return {e.dagster_event.step_key for e in events}


def test_a_failed_run_is_recorded_and_reexecuted_from_failure(pg_instance, lona_env, sim):
    # The bars the signal checks compare against (simulated market, the embedded default).
    bars = dg.materialize([defs().get_assets_def("market_bars")], instance=pg_instance, resources=RESOURCES)
    assert bars.success
    sim.post(
        "/_sim/faults", json={"status": 500, "count": 1000, "path_prefix": "/reports/"}
    ).raise_for_status()
    failed = dg.execute_job(
        dg.reconstructable(signals_job),
        instance=pg_instance,
        tags={"dagster/sensor_name": "lona_signal_sensor", "dagster/run_key": "lona-signals-test"},
    )
    assert not failed.success
    assert _steps(pg_instance, failed.run_id) == {"lona_strategies"}

    run = pg_instance.get_run_by_id(failed.run_id)
    [failure] = pg_instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="nexus_run_failure_sensor",
        dagster_instance=pg_instance,
        dagster_run=run,
        dagster_event=failure.dagster_event,
    ).for_run_failure()
    nexus_run_failure_sensor(context)

    [record] = pg_instance.fetch_observations(RUN_FAILURES, limit=10).records
    meta = {k: v.value for k, v in record.asset_observation.metadata.items()}
    assert meta["job"] == "lona_signals_job"
    assert meta["run"] == failed.run_id
    assert meta["failed_steps"] == "lona_signals"
    assert "500" in meta["errors"]
    assert meta["launched_by"] == "lona_signal_sensor"
    assert meta["run_key"] == "lona-signals-test"
    assert pg_instance.get_run_by_id(failed.run_id).tags[FAILURE_TAG] == failed.run_id

    sim.delete("/_sim/faults").raise_for_status()
    with dg.execute_job(
        dg.reconstructable(signals_job),
        instance=pg_instance,
        reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, pg_instance),
    ) as retried:
        assert retried.success
    assert _steps(pg_instance, retried.run_id) >= {"lona_signals"}
    assert "lona_strategies" not in _steps(pg_instance, retried.run_id)
    latest = pg_instance.get_latest_materialization_event(dg.AssetKey("lona_signals"))
    assert latest.run_id == retried.run_id
