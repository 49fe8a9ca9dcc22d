"""The market data cadence: refresh the bars after every US close."""

import dagster as dg

from nexus_assets.defs import jobs

market_data_schedule = dg.ScheduleDefinition(
    name="market_data_schedule",
    job=jobs.market_data_job,
    # Half an hour after the 16:00 New York close, Monday to Friday; features, allocation and
    # the backtest follow by their automation conditions.
    cron_schedule="30 16 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh `market_bars` after each US close (16:30 New York, weekdays).",
)
