"""The volatility forecaster asset: walk-forward against GARCH(1,1) and EWMA, gate the champion."""

import tempfile
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.ml.registry.names import VOLATILITY_MODEL

from .gate import gate_check_result, gate_check_spec, verdict_metadata


class VolatilityTrainingConfig(dg.Config):
    shadow_challengers: bool = Field(
        default=False,
        description=(
            "A version that beats the champion offline becomes the `challenger` (scored in shadow on "
            "every decision) instead of the champion; `model_promotion` promotes it on live evidence."
        ),
    )
    warmup: int = Field(default=500, ge=122, le=100_000, description="Bars before the first forecast.")
    refit_every: int = Field(default=21, ge=1, le=1000, description="Bars between refits (expanding window).")
    judge_decisions: bool = Field(
        default=True,
        description=(
            "Also gate on the replayed decisions: the policy's Sharpe over the held-out tail sized by "
            "this version and by the champion (no predictor, 5 bps, the backtest's defaults)."
        ),
    )


@dg.asset(
    group_name="models",
    kinds={"scipy", "mlflow"},
    owners=["team:ml"],
    code_version="1",
    check_specs=[gate_check_spec("volatility_model")],
    description=(
        "One-step-ahead variance forecaster: a log-linear HAR on Garman-Klass range variance plus the "
        "overnight gap, with a leverage term, fitted by minimising QLIKE and pooled across symbols. "
        "Scored walk-forward against GARCH(1,1) (arch) and EWMA(0.94) at the same origins. Registered "
        f"as `{VOLATILITY_MODEL}`; promoted only when it beats both baselines and the champion's QLIKE "
        "on the same held-out bars, and the served path replayed over those bars with `lona_signals` "
        "decides no worse sized by it than by the champion (the policy's Sharpe, net of costs)."
    ),
)
def volatility_model(
    context: dg.AssetExecutionContext,
    config: VolatilityTrainingConfig,
    market_bars: pl.DataFrame,
    lona_signals: pl.DataFrame,
) -> dg.MaterializeResult:
    from nexus_assets.ml.lifecycle.decisions import DecisionReplay
    from nexus_assets.ml.lifecycle.volatility import train_and_register_volatility_model
    from nexus_assets.ml.plots import png_markdown

    decisions = DecisionReplay(market_bars, lona_signals) if config.judge_decisions else None
    with tempfile.TemporaryDirectory() as workdir:
        outcome = train_and_register_volatility_model(
            market_bars,
            workdir=Path(workdir),
            shadow=config.shadow_challengers,
            warmup=config.warmup,
            refit_every=config.refit_every,
            log=context.log.info,
            tags={"dagster.run_id": context.run_id, "dagster.asset": "volatility_model"},
            decisions=decisions,
        )
    metrics = outcome.metrics
    return dg.MaterializeResult(
        metadata={
            **verdict_metadata(outcome.verdict, outcome.run_id),
            "qlike_model": metrics["walk_forward_qlike_model"],
            "qlike_garch11": metrics["walk_forward_qlike_garch11"],
            "qlike_ewma94": metrics["walk_forward_qlike_ewma94"],
            "origins": int(metrics["walk_forward_origins"]),
            "holdout_qlike": metrics["holdout_qlike"],
            **{f"gate_{k}": v for k, v in outcome.verdict.details.items()},
            "forecast_vs_realized": dg.MetadataValue.md(
                png_markdown(outcome.plot_png, "forecast vs realized")
            ),
        },
        check_results=[gate_check_result(outcome.verdict)],
    )
