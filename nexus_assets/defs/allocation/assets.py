"""Target weights for the live book, published to the Live Engine when one is configured."""

import tempfile
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.allocation_record import allocation_id
from nexus_assets.asset_metadata import frame_metadata, markdown_table
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
    kill_switch: bool = Field(default=False, description="Manual stop: no trading at all.")
    publish: bool = Field(default=True, description="Send orders to the Live Engine when it is configured.")


@dg.asset(
    group_name="allocation",
    kinds={"cvxpy", "polars", "parquet"},
    owners=["team:trading"],
    code_version="1",
    deps=["price_predictor", "volatility_model", "anomaly_detector"],
    # Re-allocates after new signals, features, bars or models, once none of them is in progress.
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Target weight per symbol for the newest bar: each symbol's newest Lona signal goes through the "
        "decision policy (volatility-targeted size, model agreement, anomaly halt with hysteresis, "
        "kill switch, drawdown breaker, position and gross caps; every rejection with a reason code), "
        "then a cvxpy optimizer (Ledoit-Wolf covariance with the volatility forecasts on the diagonal) "
        "enforces the portfolio limits. Uses the champion models from MLflow. Each signal's strength is "
        "scaled by its strategy's review (`strategy_reviews`: blocked strategies add no risk), and a news "
        "sentiment shock against a signal (`news_sentiment`, newest bar) halves its size, both with reason "
        "codes. Publishes orders to the Live Engine, idempotently, when LIVE_ENGINE_URL is set."
    ),
)
def portfolio_allocation(
    context: dg.AssetExecutionContext,
    config: AllocationConfig,
    live_engine: LiveEngineResource,
    market_bars: pl.DataFrame,
    features: pl.DataFrame,
    lona_signals: pl.DataFrame,
    news_sentiment: pl.DataFrame,
    strategy_reviews: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.ml import registry
    from nexus_assets.ml.allocation import allocate
    from nexus_assets.ml.allocation_inputs import symbol_views
    from nexus_assets.ml.champions import load_champions
    from nexus_assets.ml.optimizer import AllocationLimits
    from nexus_assets.ml.plots import figure_png, png_markdown, weights_bar
    from nexus_assets.ml.policy import PolicyConfig
    from nexus_assets.ml.risk_gate import RiskState
    from nexus_assets.sim.market import now_utc

    current: dict[str, float] = {}
    deployment_id = None
    if live_engine.enabled and config.publish:
        with live_engine.client() as client:
            deployment = client.create_deployment(
                live_engine.strategy_id,
                mode=live_engine.mode,
                capital=live_engine.capital,
                idempotency_key=f"{live_engine.strategy_id}-{live_engine.mode}",
            )
            deployment_id = deployment.id
            portfolio = client.get_portfolio(deployment.id)
        last_close = dict(
            market_bars.sort("timestamp").group_by("symbol").last().select("symbol", "close").iter_rows()
        )
        current = {
            s: q * last_close[s] / portfolio.equity for s, q in portfolio.positions.items() if s in last_close
        }

    with tempfile.TemporaryDirectory() as workdir:
        champions = load_champions(registry.configure(), Path(workdir))
    views, covariance, prices = symbol_views(
        champions,
        market_bars,
        features,
        lona_signals,
        current,
        now_utc(),
        sentiment=news_sentiment,
        reviews=strategy_reviews,
    )
    limits = AllocationLimits(
        max_weight=config.max_weight,
        max_gross=config.max_gross,
        max_net=config.max_gross,
        min_net=-config.max_gross,
        long_only=False,
        max_turnover=config.max_turnover,
        target_volatility=config.target_volatility,
        # Returns are per bar, a trade is paid once: spread its cost over the expected holding period.
        cost_per_unit_turnover=config.cost_bps / 1e4 / config.holding_bars,
    )
    policy = PolicyConfig(
        max_position_weight=config.max_weight,
        max_gross=config.max_gross,
        target_volatility=config.target_volatility,
    )
    outcome = allocate(
        views, covariance, policy=policy, limits=limits, state=RiskState(), kill_switch=config.kill_switch
    )
    as_of = str(market_bars["timestamp"].max())
    rows = []
    for i, view in enumerate(views):
        decision = outcome.decisions.get(view.symbol)
        rows.append(
            {
                "symbol": view.symbol,
                "target_weight": float(outcome.target_weights[i]),
                "desired_weight": float(outcome.desired_weights[i]),
                "current_weight": view.current_weight,
                "action": decision.action.value if decision else "hold",
                "confidence": decision.confidence if decision else 0.0,
                "reason_codes": ",".join(decision.reason_codes) if decision else "",
                "reasons": "; ".join(decision.reasons) if decision else "no fresh signal",
                "signal_id": view.signal["signal_id"] if view.signal else None,
                "predicted_return": view.predicted_return,
                "volatility_forecast": view.volatility,
                "anomaly_score": view.anomaly_score,
                "sentiment": view.sentiment,
                "sentiment_shock": view.sentiment_shock,
                "review_scale": float(view.signal.get("review_scale", 1.0)) if view.signal else None,
                "price": prices[view.symbol],
                "as_of": as_of,
            }
        )
    table = pl.DataFrame(rows)
    weights = dict(zip(table["symbol"], table["target_weight"], strict=True))
    metadata = {
        "optimizer_status": outcome.optimizer_status,
        "optimizer_reason": outcome.optimizer_reason or "",
        "expected_volatility": outcome.expected_volatility,
        "gross_exposure": float(table["target_weight"].abs().sum()),
        "model_versions": champions.versions,
        "weights": dg.MetadataValue.md(
            markdown_table(table.select("symbol", "target_weight", "action", "reason_codes"))
        ),
        "weights_chart": dg.MetadataValue.md(
            png_markdown(figure_png(weights_bar(weights, "Target weights")), "weights")
        ),
    }
    if deployment_id is not None:
        with live_engine.client() as client:
            from nexus_assets.live_engine import publish_allocation

            published = publish_allocation(
                client,
                weights,
                prices=prices,
                allocation_id=allocation_id(as_of, weights),
                deployment_id=deployment_id,
            )
        metadata |= {
            "live_engine_deployment": deployment_id,
            "allocation_id": published.allocation_id,
            "orders_created": len(published.created),
            "orders_already_placed": len(published.existing),
        }
        context.log.info(f"published {published.allocation_id}: {len(published.created)} new orders")
    return dg.Output(table, metadata=frame_metadata(table, **metadata))
