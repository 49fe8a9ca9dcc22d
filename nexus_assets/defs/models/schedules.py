"""The retraining cadence: every model retrained, evaluated and gated once a week."""

import dagster as dg

from nexus_assets.defs import jobs

model_training_schedule = dg.ScheduleDefinition(
    name="model_training_schedule",
    job=jobs.model_training_job,
    # Saturday morning, on the week's bars (the Friday refresh ran the evening before); a new
    # champion reaches allocation and the backtest through their automation conditions.
    cron_schedule="0 6 * * 6",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain the predictor, volatility and anomaly models weekly (Saturday 06:00 UTC).",
)
