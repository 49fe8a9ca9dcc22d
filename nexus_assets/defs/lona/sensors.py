"""`lona_signal_sensor`: new Lona signals become exactly one run each, none lost, none twice.

Each evaluation polls Lona from the cursor (see `nexus_assets.lona.signal_batches`). New
signals become one run of `lona_signals_job` keyed by the batch (`lona-signals-<hash>`), and
the cursor moves in the same tick result, so either both happen or neither does. Evaluating
again from an old cursor (a restarted daemon) names the same batch, and Dagster launches a run
key only once. When Lona is down or answers garbage, the sensor skips with the reason and
keeps its cursor, so the signals are picked up once Lona answers again. While a run that
reads Lona is in flight (this job or the main job), it waits: new signals join the next batch
instead of piling up runs.
"""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from nexus_assets.defs import jobs
from nexus_assets.lona.errors import LonaError
from nexus_assets.lona.signal_batches import SIGNAL_BATCH_TAG, CursorError, Poll, SignalCursor, poll
from nexus_assets.resources.lona import LonaGateway

MAX_IDS_IN_TAG = 20
# A sensor tick has about a minute; against a gateway that is down, fail fast and try next tick.
SENSOR_ATTEMPTS = 2
# Jobs that read Lona into lona_signals: while one is in flight, new signals wait for the next
# tick and join a larger batch instead of piling up runs. A run unfinished after its job's
# maximum run time is presumed lost (its worker died; run monitoring fails it) and holds
# nothing back.
STALE_AFTER = {
    "lona_signals_job": timedelta(seconds=jobs.SIGNALS_MAX_RUNTIME_S),
    "nexus_main_job": timedelta(seconds=jobs.MAIN_MAX_RUNTIME_S),
}
SIGNAL_JOBS = tuple(STALE_AFTER)
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
POLL_SECONDS = int(os.environ.get("NEXUS_SIGNAL_POLL_SECONDS", "30"))
"""How often Lona is polled; read when the code location loads (`make run` uses 10)."""


def batch_tags(result: Poll) -> dict[str, str]:
    ids = result.signal_ids
    shown = ",".join(ids[:MAX_IDS_IN_TAG]) + (
        f",+{len(ids) - MAX_IDS_IN_TAG} more" if len(ids) > MAX_IDS_IN_TAG else ""
    )
    return {
        SIGNAL_BATCH_TAG: result.batch_key,
        "nexus/signal_count": str(len(ids)),
        "nexus/signal_ids": shown,
        "nexus/newest_signal": str(result.signals["timestamp"].max()),
        "nexus/reports": ",".join(sorted(result.reports_read)),
    }


def run_in_flight(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """An unfinished run of a job that reads Lona's signals, if any (stale ones excepted)."""
    for job_name, stale_after in STALE_AFTER.items():
        since = datetime.now(UTC) - stale_after
        runs = instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT, created_after=since), limit=1
        )
        if runs:
            return runs[0]
    return None


def inputs_from_outside_the_job() -> set[dg.AssetKey]:
    """What `lona_signals_job` reads but does not make: bars, models, news (the main job makes them)."""
    inside = {key for asset in jobs.SIGNAL_JOB_ASSETS for key in asset.keys}
    return {dep for asset in jobs.SIGNAL_JOB_ASSETS for dep in asset.dependency_keys} - inside


def missing_inputs(instance: dg.DagsterInstance) -> list[str]:
    """Inputs never materialized yet: a run now could only fail at the allocation."""
    return sorted(
        key.to_user_string()
        for key in inputs_from_outside_the_job()
        if instance.get_latest_materialization_event(key) is None
    )


def _failures_text(failures: dict[str, str]) -> str:
    return "; ".join(f"strategy {sid}: {reason}" for sid, reason in sorted(failures.items()))


@dg.sensor(
    name="lona_signal_sensor",
    job=jobs.lona_signals_job,
    minimum_interval_seconds=POLL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Polls the Lona gateway for completed reports newer than the cursor and requests one "
        "`lona_signals_job` run per batch of new signals (run key `lona-signals-<hash of the "
        "signal ids>`, tags list the batch). Skips with the reason when there is nothing new, "
        "Lona cannot be read, or a run reading Lona is still in flight; the cursor never moves "
        "past a signal it has not handed on."
    ),
)
def lona_signal_sensor(context: dg.SensorEvaluationContext, lona: LonaGateway) -> dg.SensorResult:
    busy = run_in_flight(context.instance)
    if busy is not None:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"run {busy.run_id} of {busy.job_name} is {busy.status.value.lower()}; new signals "
                "are handed on once it finishes"
            )
        )
    missing = missing_inputs(context.instance)
    if missing:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"waiting for a first materialization of {', '.join(missing)} (nexus_main_job makes "
                "them); signals are handed on after it"
            )
        )
    try:
        cursor = SignalCursor.parse(context.cursor)
    except CursorError as exc:
        # Starting over hands on the signals of the newest reports once more, as one batch.
        context.log.warning(f"{exc}; starting from an empty cursor")
        cursor = SignalCursor()
    try:
        with lona.client(max_attempts=SENSOR_ATTEMPTS) as client:
            result = poll(client, cursor)
    except LonaError as exc:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"Lona gateway unavailable: {exc}"))

    if result.failures:
        context.log.warning(f"not read this time, retried next tick: {_failures_text(result.failures)}")
    new_cursor = result.cursor.to_json()
    cursor_moved = new_cursor != (context.cursor or "")
    if result.signals.is_empty():
        reason = (
            f"no new signals; {len(result.failures)} strategies could not be read: "
            f"{_failures_text(result.failures)}"
            if result.failures
            else f"no new signals ({len(result.reports_read)} new reports read)"
        )
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=new_cursor if cursor_moved else None)

    tags = batch_tags(result)
    context.log.info(
        f"batch {result.batch_key}: {result.signals.height} new signals from "
        f"{len(result.reports_read)} reports: {', '.join(result.signal_ids)}"
    )
    # The run reads exactly the reports this poll saw, not whatever is newest when it starts.
    reports = {sid: mark.report_id for sid, mark in sorted(result.cursor.marks.items())}
    run_config = {"ops": {"lona_strategies": {"config": {"reports": reports}}}}
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=result.batch_key, tags=tags, run_config=run_config)],
        cursor=new_cursor,
    )
