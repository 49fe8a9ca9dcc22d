"""`model_decay_sensor`: retraining when monitoring fails a champion, once per failure, with a cool-down.

It reads the newest evaluation of each of `model_monitoring`'s checks. An evaluation it has not
seen that failed at error severity (a warning only warns) requests `model_training_job` under the
run key ``model-decay:<check>:<evaluation id>``, so a failure launches one run however often the
sensor ticks, with tags saying which check failed and why. Within the cool-down after a launch
(``NEXUS_RETRAIN_COOLDOWN_HOURS``, default 24) a new failure is recorded in the tick's skip
reason and launches nothing: a model that keeps failing is retrained daily at most, not hourly.
"""

import os
import time

import dagster as dg
import orjson

from nexus_assets.defs import jobs
from nexus_assets.defs.monitoring.assets import DECAY_CHECKS

MONITORED = dg.AssetKey("model_monitoring")
REASON_TAG = "nexus/retrain_reason"
CHECK_TAG = "nexus/retrain_check"
DEFAULT_COOLDOWN_HOURS = 24.0


def cooldown_s() -> float:
    value = os.environ.get("NEXUS_RETRAIN_COOLDOWN_HOURS", "").strip()
    hours = float(value) if value else DEFAULT_COOLDOWN_HOURS
    if hours < 0:
        raise ValueError(f"NEXUS_RETRAIN_COOLDOWN_HOURS: must not be negative, got {value!r}")
    return hours * 3600.0


def _failure(record: object) -> tuple[bool, str]:
    """``(failed at error severity, reason)`` of a check evaluation record."""
    event = getattr(record, "event", None)
    evaluation = getattr(getattr(event, "dagster_event", None), "event_specific_data", None)
    if evaluation is None or getattr(evaluation, "passed", True):
        return False, ""
    if evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return False, ""
    reason = evaluation.metadata.get("reason")
    return True, str(getattr(reason, "value", reason) or "no reason recorded")


@dg.sensor(
    name="model_decay_sensor",
    job=jobs.model_training_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests `model_training_job` when a check of `model_monitoring` fails (live skill below the "
        "naive baseline past its margin, or feature drift): one run per failed evaluation, none within "
        "the cool-down after a launch (NEXUS_RETRAIN_COOLDOWN_HOURS, default 24), the reason in the "
        "run's tags."
    ),
)
def model_decay_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    state = orjson.loads(context.cursor) if context.cursor else {}
    seen: dict[str, int] = state.get("seen", {})
    last_launch = float(state.get("last_launch", 0.0))
    failures = []
    for check in DECAY_CHECKS:
        record = context.instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(MONITORED, check))
        if record is None or record.id <= seen.get(check, 0):
            continue
        seen[check] = record.id
        failed, reason = _failure(record)
        if failed:
            failures.append((check, record.id, reason))
    now = time.time()
    cursor = {"seen": seen, "last_launch": last_launch}
    if not failures:
        context.update_cursor(orjson.dumps(cursor).decode())
        return dg.SkipReason("no new failed check of model_monitoring")
    wait = last_launch + cooldown_s() - now
    why = "; ".join(f"{check}: {reason}" for check, _, reason in failures)
    if wait > 0:
        context.update_cursor(orjson.dumps(cursor).decode())
        return dg.SkipReason(
            f"cool-down: {wait / 3600:.1f} h left since the last retraining; not launched for {why}"
        )
    check, record_id, _ = failures[0]
    cursor["last_launch"] = now
    context.log.warning(f"retraining: {why}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"model-decay:{check}:{record_id}",
                tags={REASON_TAG: why[:1000], CHECK_TAG: ",".join(c for c, _, _ in failures)},
            )
        ],
        cursor=orjson.dumps(cursor).decode(),
    )
