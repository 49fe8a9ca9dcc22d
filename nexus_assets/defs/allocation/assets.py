"""Target weights for the live book; `live_engine_orders` publishes them once they are stored."""

import tempfile
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.allocation_record import table_allocation_id
from nexus_assets.asset_metadata import frame_metadata, markdown_table
from nexus_assets.resources.kill_switch import KillSwitchResource
from nexus_assets.resources.live_engine import LiveEngineResource


class AllocationConfig(dg.Config):
    max_weight: float = Field(default=0.25, gt=0, le=1)
    max_gross: float = Field(default=1.0, gt=0, le=3)
    max_turnover: float = Field(default=1.0, gt=0, le=6)
    cost_bps: float = Field(default=5.0, ge=0, le=1000, description="Cost per unit of turnover.")
    holding_bars: int = Field(
        default=21, ge=1, description="Expected holding period the cost is spread over."
    )
    target_volatility: float = Field(default=0.10, gt=0, le=1)
    kill_switch: bool = Field(
        default=False,
        description="Manual stop for this run: no trading at all (the shared switch, POST /v1/risk/kill-switch, stops every run).",
    )
    book: str = Field(
        default="default",
        description=(
            "The decision service's book whose equity mark (latest equity and high-water mark) "
            "drives the drawdown breaker; a book no decision named yet means no drawdown."
        ),
    )
    publish: bool = Field(
        default=True,
        description=(
            "Read current positions from the Live Engine when it is configured, and let "
            "`live_engine_orders` publish this allocation (false: neither)."
        ),
    )


@dg.asset(
    group_name="allocation",
    kinds={"cvxpy", "polars", "parquet"},
    owners=["team:trading"],
    code_version="1",
    deps=["price_predictor", "volatility_model", "anomaly_detector"],
    # Re-allocates after new signals, features, bars or models, once none of them is in progress.
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Target weight per symbol for the newest bar: each strategy's standing Lona signal on a symbol goes "
        "through the decision policy (volatility-targeted size, model agreement, anomaly halt with hysteresis, "
        "kill switch (this run's config or the decision service's shared switch), drawdown breaker, position and gross caps; every rejection with a reason code) "
        "and the symbol nets them (strategies that trade alike count once; no standing signal closes the position), "
        "then a cvxpy optimizer (Ledoit-Wolf covariance with the volatility forecasts on the diagonal) "
        "enforces the portfolio limits. Uses the champion models from MLflow. Each signal's strength is "
        "scaled by its strategy's review (`strategy_reviews`: blocked strategies add no risk), and a news "
        "sentiment shock against a signal (`news_sentiment`, newest bar) halves its size, both with reason "
        "codes. Reads current positions from the Live Engine when LIVE_ENGINE_URL is set; "
        "`live_engine_orders` publishes the stored table."
    ),
)
def portfolio_allocation(
    context: dg.AssetExecutionContext,
    config: AllocationConfig,
    live_engine: LiveEngineResource,
    kill_switch: KillSwitchResource,
    market_bars: pl.DataFrame,
    features: pl.DataFrame,
    lona_signals: pl.DataFrame,
    news_sentiment: pl.DataFrame,
    strategy_reviews: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.clock import now_utc
    from nexus_assets.live_engine.book import current_weights, find_portfolio
    from nexus_assets.ml import registry
    from nexus_assets.ml.plots import figure_png, png_markdown, weights_bar
    from nexus_assets.ml.portfolio.book import allocate_book, book_limits
    from nexus_assets.ml.portfolio.risk_gate import RiskState
    from nexus_assets.ml.registry.champions import load_champions

    shared = kill_switch.snapshot()
    shared_switch = shared.kill_switch
    mark = shared.marks.get(config.book)
    equity, peak_equity = (mark.equity, mark.peak_equity) if mark else (1.0, 1.0)
    latches = {symbol: RiskState(anomaly_halted=latch.halted) for symbol, latch in shared.latches.items()}
    if shared_switch.engaged:
        context.log.warning(
            f"kill switch engaged by {shared_switch.changed_by} at {shared_switch.changed_at}: "
            f"{shared_switch.reason}; no new risk"
        )
    current: dict[str, float] = {}
    if live_engine.enabled and config.publish:
        with live_engine.client() as client:
            portfolio = find_portfolio(client, live_engine.mode, live_engine.portfolio)
            current = current_weights(portfolio, market_bars)

    with tempfile.TemporaryDirectory() as workdir:
        champions = load_champions(registry.configure(), Path(workdir))
    limits, policy = book_limits(**config.model_dump(exclude={"publish", "kill_switch", "book"}))
    book = allocate_book(
        champions,
        market_bars,
        features,
        lona_signals,
        current,
        now_utc(),
        limits=limits,
        policy=policy,
        kill_switch=config.kill_switch or shared_switch.engaged,
        latches=latches,
        equity=equity,
        peak_equity=peak_equity,
        sentiment=news_sentiment,
        reviews=strategy_reviews,
    )
    table, weights, outcome = book.table, book.weights, book.outcome
    from nexus_assets.allocation_history import record_allocation

    kept = record_allocation(table, champions.versions, table_allocation_id(table))
    metadata = {
        "predictions_kept_at": str(kept),
        "optimizer_status": outcome.optimizer_status,
        "optimizer_reason": outcome.optimizer_reason or "",
        "expected_volatility": outcome.expected_volatility,
        "gross_exposure": float(table["target_weight"].abs().sum()),
        "allocation_id": table_allocation_id(table),
        "publish": config.publish,
        "kill_switch": config.kill_switch or shared_switch.engaged,
        "kill_switch_changed_by": shared_switch.changed_by or "",
        "kill_switch_reason": shared_switch.reason or "",
        "book": config.book,
        "drawdown": 1.0 - equity / peak_equity,
        "anomaly_halted_symbols": ",".join(sorted(s for s, latch in shared.latches.items() if latch.halted)),
        "model_versions": champions.versions,
        "weights": dg.MetadataValue.md(
            markdown_table(table.select("symbol", "target_weight", "action", "reason_codes"))
        ),
        "weights_chart": dg.MetadataValue.md(
            png_markdown(figure_png(weights_bar(weights, "Target weights")), "weights")
        ),
    }
    return dg.Output(table, metadata=frame_metadata(table, **metadata))
