"""Cross-cutting sensors: failed runs are recorded where an operator looks, and downstream
assets follow their automation conditions."""

import dagster as dg

from .assets import RUN_FAILURES

FAILURE_TAG = "nexus/failure_recorded"
_ERROR_CHARS = 500


def _root_message(error: object) -> str | None:
    """The innermost cause: Dagster wraps the asset's own error in a step execution error."""
    while (cause := getattr(error, "cause", None)) is not None:
        error = cause
    message = getattr(error, "message", None)
    return message.strip() if isinstance(message, str) else None


def _step_errors(context: dg.RunFailureSensorContext) -> dict[str, str]:
    errors = {}
    for event in context.get_step_failure_events():
        message = _root_message(getattr(event.event_specific_data, "error", None))
        errors[event.step_key or "?"] = (message or event.message or "no message")[:_ERROR_CHARS]
    return errors


def failure_metadata(context: dg.RunFailureSensorContext) -> dict[str, dg.MetadataValue]:
    run = context.dagster_run
    steps = _step_errors(context)
    launched_by = (
        run.tags.get("dagster/sensor_name")
        or run.tags.get("dagster/schedule_name")
        or ("automation" if run.tags.get("dagster/from_automation_condition") else "manual")
    )
    errors = "\n".join(f"- `{step}`: {message}" for step, message in steps.items())
    return {
        "job": dg.MetadataValue.text(run.job_name),
        "run": dg.MetadataValue.dagster_run(run.run_id),
        "failed_steps": dg.MetadataValue.text(", ".join(steps) or "none (the run failed outside a step)"),
        "errors": dg.MetadataValue.md(errors or (context.failure_event.message or "no message")),
        "launched_by": dg.MetadataValue.text(launched_by),
        "run_key": dg.MetadataValue.text(run.tags.get("dagster/run_key", "none")),
        "retry_number": dg.MetadataValue.int(int(run.tags.get("dagster/retry_number", "0"))),
    }


@dg.run_failure_sensor(
    name="nexus_run_failure_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records every failed run of this code location: an observation of `run_failures` (job, "
        "run, failed steps, errors, what launched it), an error line in this sensor's log, and the "
        f"tag `{FAILURE_TAG}` on the run. Re-execute the run from failure once the cause is fixed."
    ),
)
def nexus_run_failure_sensor(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    metadata = failure_metadata(context)
    context.log.error(
        f"run {run.run_id} of {run.job_name} failed at {metadata['failed_steps'].value}: "
        f"{metadata['errors'].value}"
    )
    context.instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=RUN_FAILURES, metadata=metadata)
    )
    # The value names the failed run, so a retry that inherits the tag still says the truth.
    context.instance.add_run_tags(run.run_id, {FAILURE_TAG: run.run_id})


nexus_automation_sensor = dg.AutomationConditionSensorDefinition(
    name="nexus_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    run_tags={"nexus/stage": "automation"},
    description=(
        "Evaluates the assets' automation conditions: `features`, `portfolio_allocation` and "
        "`backtest_report` are materialized after their upstream assets update (new signals, bars "
        "or models), once nothing upstream is missing or in progress."
    ),
)
