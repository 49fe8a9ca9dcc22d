"""`lona_signal_sensor` against a real Lona stand-in and a Dagster instance on PostgreSQL.

`SensorDaemon` plays the daemon's part around the sensor: it evaluates with the stored
cursor (`build_sensor_context`), launches each requested run key that no run of the sensor
carries yet (the daemon's own rule) and stores the new cursor. After every launched run it
checks the batch against the run's `lona_signals` snapshot: the batch must be exactly the
signals no earlier batch handed on, so every signal is processed once and none is lost.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import httpx
import polars as pl
import pytest

from nexus_assets.definitions import defs
from nexus_assets.defs.lona.sensors import inputs_from_outside_the_job, lona_signal_sensor
from nexus_assets.lona.signal_batches import SIGNAL_BATCH_TAG, SignalCursor, batch_key
from nexus_assets.resources.lona import LonaGateway

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SENSOR = "lona_signal_sensor"


def with_upstream(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """An instance in which the main job has made the bars, models and news the signal job reads."""
    for key in inputs_from_outside_the_job():
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    return instance


def lona_steps() -> dg.JobDefinition:
    """The signal job's Lona steps; what follows them needs trained models, which these tests skip."""
    return (
        defs()
        .resolve_job_def("lona_signals_job")
        .get_subset(
            asset_selection={dg.AssetKey("lona_strategies"), dg.AssetKey("lona_signals")},
            asset_check_selection={dg.AssetCheckKey(dg.AssetKey("lona_signals"), "signals_well_formed")},
        )
    )


def evaluate(instance: dg.DagsterInstance, gateway: LonaGateway, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, sensor_name=SENSOR, resources={"lona": gateway}
    )
    return lona_signal_sensor(context)


class SensorDaemon:
    def __init__(self, instance: dg.DagsterInstance, gateway: LonaGateway) -> None:
        self.instance = with_upstream(instance)
        self.gateway = gateway
        self.cursor: str | None = None
        self.processed: dict[str, str] = {}
        self.job = lona_steps()

    def tick(self, cursor: Any = "stored") -> dg.SensorResult:
        result = evaluate(self.instance, self.gateway, self.cursor if cursor == "stored" else cursor)
        for request in result.run_requests or []:
            self._launch(request)
        if result.cursor is not None:
            self.cursor = result.cursor
        return result

    def runs(self) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR})))

    def _launch(self, request: dg.RunRequest) -> None:
        keys = {"dagster/sensor_name": SENSOR, "dagster/run_key": request.run_key}
        if self.instance.get_runs(filters=dg.RunsFilter(tags=keys)):
            return
        outcome = self.job.execute_in_process(
            instance=self.instance, tags={**request.tags, **keys}, run_config=request.run_config
        )
        assert outcome.success
        snapshot: pl.DataFrame = outcome.output_for_node("lona_signals")
        batch = sorted(set(snapshot["signal_id"]) - set(self.processed))
        assert batch, "a run was requested for no new signal"
        assert request.run_key == batch_key(batch), "the batch is not exactly the signals not yet handed on"
        assert request.tags["nexus/signal_count"] == str(len(batch))
        self.processed.update(dict.fromkeys(batch, request.run_key))
        meta = self.instance.get_latest_materialization_event(
            dg.AssetKey("lona_signals")
        ).asset_materialization.metadata
        assert meta["signal_batch"].value == request.run_key


def tick_lona(sim: httpx.Client, bars: int = 40) -> None:
    """Reveal ``bars`` bars; each tick also completes the next strategy's report."""
    sim.post("/_sim/tick", params={"n": bars}).raise_for_status()


def arm(sim: httpx.Client, **fault: Any) -> None:
    sim.delete("/_sim/faults").raise_for_status()
    sim.post("/_sim/faults", json={"count": 1000, **fault}).raise_for_status()


def test_the_first_poll_hands_on_every_signal_once_and_a_replay_launches_nothing(
    pg_instance, signal_gateway, lona_env
):
    daemon = SensorDaemon(pg_instance, signal_gateway)
    first = daemon.tick()
    [request] = first.run_requests
    assert request.run_key.startswith("lona-signals-")
    assert request.tags[SIGNAL_BATCH_TAG] == request.run_key
    assert int(request.tags["nexus/signal_count"]) == len(daemon.processed) > 0
    with signal_gateway.client() as client:
        strategies = {s["id"] for s in client.list_strategies()}
    assert set(SignalCursor.parse(first.cursor).marks) == strategies

    again = daemon.tick()
    assert not again.run_requests
    assert "no new signals" in again.skip_reason.skip_message
    assert again.cursor is None, "nothing new: the cursor stays"

    # A restarted daemon that lost the tick's cursor polls from the old one: same batch, same
    # run key, and no second run.
    replay = daemon.tick(cursor=None)
    assert [r.run_key for r in replay.run_requests] == [request.run_key]
    assert replay.run_requests[0].tags == request.tags
    assert len(daemon.runs()) == 1


def test_an_outage_or_garbage_skips_with_the_reason_and_the_catch_up_loses_nothing(
    pg_instance, signal_gateway, lona_env, sim
):
    daemon = SensorDaemon(pg_instance, signal_gateway)
    daemon.tick()
    before = daemon.cursor
    tick_lona(sim)

    arm(sim, status=503)
    down = daemon.tick()
    assert not down.run_requests
    assert down.skip_reason.skip_message.startswith("Lona gateway unavailable")
    assert "503" in down.skip_reason.skip_message
    assert down.cursor is None and daemon.cursor == before

    arm(sim, malformed=True)
    garbage = daemon.tick()
    assert not garbage.run_requests
    assert garbage.skip_reason.skip_message.startswith("Lona gateway unavailable")
    assert daemon.cursor == before

    sim.delete("/_sim/faults").raise_for_status()
    caught_up = daemon.tick()
    assert len(caught_up.run_requests) == 1, "the signals revealed during the outage form one batch"
    assert len(daemon.runs()) == 2
    assert "no new signals" in daemon.tick().skip_reason.skip_message

    # Replaying the catch-up tick from the pre-outage cursor launches nothing new.
    assert daemon.tick(cursor=before).run_requests[0].run_key == caught_up.run_requests[0].run_key
    keys = [run.tags["dagster/run_key"] for run in daemon.runs()]
    assert len(keys) == len(set(keys)) == 2


def test_a_strategy_lona_cannot_serve_keeps_its_place_while_the_others_move_on(signal_gateway, sim):
    first = evaluate(with_upstream(dg.DagsterInstance.ephemeral()), signal_gateway, None)
    tick_lona(sim, bars=8)
    with signal_gateway.client() as client:
        broken = client.list_strategies()[0]["id"]
        report = client.latest_completed_report(broken)["id"]
    arm(sim, malformed=True, path_prefix=f"/reports/{report}/full")

    partial = evaluate(with_upstream(dg.DagsterInstance.ephemeral()), signal_gateway, first.cursor)
    before = SignalCursor.parse(first.cursor).marks
    after = SignalCursor.parse(partial.cursor).marks
    assert after[broken] == before[broken], "the unread strategy must not move"
    assert all(after[s] != before[s] for s in before if s != broken)
    assert report not in (partial.run_requests[0].tags["nexus/reports"] if partial.run_requests else "")

    sim.delete("/_sim/faults").raise_for_status()
    recovered = evaluate(with_upstream(dg.DagsterInstance.ephemeral()), signal_gateway, partial.cursor)
    moved = SignalCursor.parse(recovered.cursor).marks
    assert moved[broken].report_id == report
    assert {s for s in moved if moved[s] != after[s]} == {broken}
    if recovered.run_requests:
        assert recovered.run_requests[0].tags["nexus/reports"] == report


def test_an_unreadable_cursor_starts_over_with_one_batch(signal_gateway):
    instance = with_upstream(dg.DagsterInstance.ephemeral())
    fresh = evaluate(instance, signal_gateway, None)
    restarted = evaluate(instance, signal_gateway, '{"v": 0}')
    assert [r.run_key for r in restarted.run_requests] == [r.run_key for r in fresh.run_requests]


def test_signals_wait_while_a_run_reading_lona_is_in_flight(signal_gateway):
    instance = with_upstream(dg.DagsterInstance.ephemeral())
    main = instance.add_run(dg.DagsterRun(job_name="nexus_main_job", status=dg.DagsterRunStatus.STARTED))
    waiting = evaluate(instance, signal_gateway, None)
    assert not waiting.run_requests and waiting.cursor is None
    assert waiting.skip_reason.skip_message.startswith(f"run {main.run_id} of nexus_main_job is started")

    instance.report_run_failed(main)
    assert len(evaluate(instance, signal_gateway, None).run_requests) == 1


def test_signals_wait_until_the_main_job_has_made_what_the_allocation_reads(signal_gateway):
    instance = dg.DagsterInstance.ephemeral()
    waiting = evaluate(instance, signal_gateway, None)
    assert not waiting.run_requests and waiting.cursor is None
    message = waiting.skip_reason.skip_message
    assert message.startswith("waiting for a first materialization of")
    assert {"market_bars", "price_predictor", "volatility_model", "anomaly_detector"} <= set(
        message.split(" of ")[1].split(" (")[0].split(", ")
    )
    assert len(evaluate(with_upstream(instance), signal_gateway, None).run_requests) == 1


def test_the_run_reads_the_reports_the_sensor_saw_not_a_newer_shorter_one(
    pg_instance, signal_gateway, lona_env, sim
):
    daemon = SensorDaemon(pg_instance, signal_gateway)
    daemon.tick()
    tick_lona(sim)
    seen = evaluate(daemon.instance, signal_gateway, daemon.cursor)
    [request] = seen.run_requests
    pinned = request.run_config["ops"]["lona_strategies"]["config"]["reports"]
    assert pinned == {sid: mark.report_id for sid, mark in SignalCursor.parse(seen.cursor).marks.items()}

    # Before the run starts, a newer report of one strategy covers fewer bars.
    with signal_gateway.client() as client:
        strategy_id = next(iter(pinned))
        summary = client.get_report(pinned[strategy_id])
        shorter = client.run_backtest(
            strategy_id, summary["data_ids"], summary["start_date"], summary["start_date"]
        )
        client.wait_for_report(shorter)
        assert client.latest_completed_report(strategy_id)["id"] == shorter

    daemon._launch(request)  # asserts the run's signals are exactly the earlier ones plus this batch


def test_a_pinned_report_of_another_strategy_is_refused_by_name(signal_gateway, lona_env):
    with signal_gateway.client() as client:
        reported = [
            (s["id"], report["id"])
            for s in client.list_strategies()
            if (report := client.latest_completed_report(s["id"])) is not None
        ]
    (first, _), (_, other_report) = reported[:2]
    result = lona_steps().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"lona_strategies": {"config": {"reports": {first: other_report}}}}},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert f"config reports[{first!r}]" in failure.step_failure_data.error.message
