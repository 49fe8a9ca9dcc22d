"""The served decision path replayed walk-forward on the graph's bars and Lona signals, in the UI and MLflow."""

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.asset_metadata import frame_metadata, markdown_table


class BacktestReportConfig(dg.Config):
    cost_bps: float = Field(default=5.0, ge=0, le=1000)
    rebalance_every: int = Field(default=5, ge=1, le=252)
    retrain_every: int = Field(default=252, ge=21, le=2520, description="Bars between two retrains.")
    train_bars: int = Field(default=1260, ge=100, description="Trailing bars each retrain fits on.")
    epochs: int = Field(default=10, ge=1, le=100, description="Most LSTM epochs per retrain.")
    warmup: int = Field(default=504, ge=252)
    target_volatility: float = Field(default=0.10, gt=0, le=1)
    max_weight: float = Field(default=0.25, gt=0, le=1)


@dg.asset(
    group_name="backtest",
    kinds={"polars", "mlflow", "parquet"},
    owners=["team:trading"],
    code_version="2",
    deps=["price_predictor", "volatility_model", "anomaly_detector"],
    # Replays again after new bars or models; a new batch of signals alone (every few seconds from
    # Lona) is read at the next replay rather than starting one.
    automation_condition=dg.AutomationCondition.eager().ignore(dg.AssetSelection.assets("lona_signals")),
    description=(
        "The decision service's path replayed walk-forward over `market_bars` and `lona_signals` "
        "with no look-ahead: the predictor, volatility model and anomaly detector retrained every "
        "`retrain_every` bars on the bars before, the policy per standing signal, netting per symbol, "
        "the risk gate, the caps and the optimizer, 5 bps per unit of turnover. Rows: the policy; the "
        "policy with the predictor, the anomaly gate or the optimizer off; the same signals "
        "volatility-targeted without ML and executed raw; 1/N, inverse volatility and buy-and-hold. "
        "Stored: daily net returns of every row; metrics, decisions by reason and the equity plot in "
        "the UI and in MLflow."
    ),
)
def backtest_report(
    context: dg.AssetExecutionContext,
    config: BacktestReportConfig,
    market_bars: pl.DataFrame,
    lona_signals: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    from dataclasses import replace

    from nexus_assets.ml import plots
    from nexus_assets.ml.lifecycle.backtest import log_backtest
    from nexus_assets.ml.replay import ReplayConfig, RetrainConfig, replay_bars, run_replay

    data = replay_bars(market_bars)
    signals = lona_signals.select("timestamp", "symbol", "strategy_id", "side", "strength").filter(
        pl.col("symbol").is_in(data.symbols)
    )
    base = RetrainConfig()
    settings = ReplayConfig(
        cost_bps=config.cost_bps,
        rebalance_every=config.rebalance_every,
        warmup=config.warmup,
        target_volatility=config.target_volatility,
        max_weight=config.max_weight,
        retrain=RetrainConfig(
            retrain_every=config.retrain_every,
            train_bars=config.train_bars,
            lstm=replace(base.lstm, max_epochs=config.epochs),
        ),
    )
    result = run_replay(data, signals, settings, log=context.log.info)
    dates = result.timestamps.slice(0, len(result.timestamps) - 1)
    returns = pl.DataFrame({"timestamp": dates, **{k: v for k, v in result.returns.items()}})
    metrics = pl.DataFrame([{"row": k, **v} for k, v in result.metrics.items()])
    reasons = pl.DataFrame(
        [
            {"row": row, "reason": code, "decisions": n}
            for row, codes in result.reasons.items()
            for code, n in codes.items()
        ],
        schema={"row": pl.String, "reason": pl.String, "decisions": pl.Int64},
    )
    png = plots.figure_png(plots.equity_and_drawdown(result.returns, "Walk-forward replay, net of costs"))
    run_id = log_backtest(
        result,
        params=config.model_dump(),
        equity_png=png,
        run_name=f"backtest-{context.run_id[:8]}",
        tags={"dagster.run_id": context.run_id, "dagster.asset": "backtest_report"},
    )
    policy, raw = result.metrics["policy"], result.metrics["raw"]
    context.log.info(f"policy Sharpe {policy['sharpe']:.2f} vs raw signals {raw['sharpe']:.2f}")
    for warning in result.warnings:
        context.log.warning(warning)
    return dg.Output(
        returns,
        metadata=frame_metadata(
            returns,
            metrics=dg.MetadataValue.md(markdown_table(metrics.with_columns(pl.selectors.float().round(4)))),
            decisions_by_reason=dg.MetadataValue.md(markdown_table(reasons)) if reasons.height else "none",
            equity_and_drawdown=dg.MetadataValue.md(plots.png_markdown(png, "equity and drawdown")),
            policy_sharpe=policy["sharpe"],
            raw_sharpe=raw["sharpe"],
            volatility_targeted_sharpe=result.metrics["volatility_targeted"]["sharpe"],
            equal_weight_sharpe=result.metrics["equal_weight"]["sharpe"],
            policy_max_drawdown=policy["max_drawdown"],
            retrains=len(result.retrains),
            reason_counts=result.reasons.get("policy") or {"none": 0},
            warnings="; ".join(result.warnings) or "none",
            mlflow_run_id=run_id,
        ),
    )
