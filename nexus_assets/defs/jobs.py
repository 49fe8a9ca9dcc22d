"""Jobs: the whole graph on demand, and the stage jobs that sensors and schedules launch.

Downstream of each stage job, `features`, `portfolio_allocation` and `backtest_report` follow
by their automation conditions. The signal job is the exception: it carries new signals through
`features` and `portfolio_allocation` to `live_engine_orders` itself, because a signal's way to
the Live Engine should not wait for a second run to start.
"""

import dagster as dg

from nexus_assets.defs.allocation.assets import portfolio_allocation
from nexus_assets.defs.allocation.orders import live_engine_orders
from nexus_assets.defs.features.assets import features
from nexus_assets.defs.lona.assets import lona_signals, lona_strategies
from nexus_assets.defs.lona.reviews import strategy_reviews

# Run-level retries (the daemon re-executes a failed run from the failed step; `run_retries`
# is enabled in dagster.yaml with a default of 0, so each job opts in here).
RETRY_FROM_FAILURE = {"dagster/retry_strategy": "FROM_FAILURE"}

# Run monitoring (dagster.yaml) fails a run still going after its `dagster/max_runtime`, so a
# lost run worker holds back the runs that wait for it (lona_signal_sensor) for this long at most.
MAIN_MAX_RUNTIME_S = 2 * 60 * 60
SIGNALS_MAX_RUNTIME_S = 15 * 60

nexus_main_job = dg.define_asset_job(
    name="nexus_main_job",
    selection=dg.AssetSelection.all(),
    description="Materialize the whole graph: market data, Lona strategies and signals, features.",
    run_tags={"dagster/max_runtime": str(MAIN_MAX_RUNTIME_S)},
)

SIGNAL_JOB_ASSETS = (
    lona_strategies,
    lona_signals,
    strategy_reviews,
    features,
    portfolio_allocation,
    live_engine_orders,
)
"""What `lona_signals_job` carries a new signal through; `lona_signal_sensor` waits for the rest."""

lona_signals_job = dg.define_asset_job(
    name="lona_signals_job",
    # New signals go straight through to the allocation (and the Live Engine) in the same run:
    # a second, automation-launched run would add a run start-up to the signal's path.
    # signals_match_market reads market_bars, which this job does not own; it runs with the
    # main job. The backtest follows by its automation condition.
    selection=dg.AssetSelection.assets(*SIGNAL_JOB_ASSETS)
    - dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("lona_signals"), "signals_match_market")),
    description=(
        "Read Lona's newest reports into `lona_strategies` and `lona_signals`, review new strategies "
        "(`strategy_reviews`), then refresh `features` and `portfolio_allocation`, and publish it (`live_engine_orders`, when "
        "the Live Engine is configured). Launched by "
        "`lona_signal_sensor`, one run per batch of new signals (run key `lona-signals-<hash>`)."
    ),
    run_tags={
        **RETRY_FROM_FAILURE,
        "dagster/max_retries": "2",
        "dagster/max_runtime": str(SIGNALS_MAX_RUNTIME_S),
        "nexus/stage": "signals",
    },
    # Its steps are short and sequential: in one process they skip a ~3 s interpreter start
    # each, which is most of a signal's way to the Live Engine.
    executor_def=dg.in_process_executor,
)

market_data_job = dg.define_asset_job(
    name="market_data_job",
    selection=dg.AssetSelection.assets("market_bars", "news_headlines"),
    description=(
        "Refresh `market_bars` (and its checks) and `news_headlines`; features, sentiment, allocation "
        "and backtest follow."
    ),
    op_retry_policy=dg.RetryPolicy(
        max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    # One run retry on top, for a run worker lost outside any step (restart, eviction).
    run_tags={**RETRY_FROM_FAILURE, "dagster/max_retries": "1", "nexus/stage": "market"},
)

model_training_job = dg.define_asset_job(
    name="model_training_job",
    selection=dg.AssetSelection.groups("models"),
    description=(
        "Retrain, evaluate and gate the three models on the current `features`; allocation and "
        "backtest follow once they finish."
    ),
    # Training is deterministic and long: one step retry covers a transient MLflow or storage
    # error; a whole-run retry would only repeat an expensive failure, so there is none.
    op_retry_policy=dg.RetryPolicy(
        max_retries=1, delay=300, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    run_tags={"nexus/stage": "training"},
)
