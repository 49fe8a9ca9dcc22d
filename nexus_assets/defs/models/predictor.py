"""The LSTM price predictor asset: train walk-forward, register in MLflow, gate the champion."""

import tempfile
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.registry.names import PREDICTOR_MODEL

from .gate import gate_check_result, gate_check_spec, verdict_metadata


class PredictorTrainingConfig(dg.Config):
    """Training knobs an operator may change from the launchpad."""

    shadow_challengers: bool = Field(
        default=False,
        description=(
            "A version that beats the champion offline becomes the `challenger` (scored in shadow on "
            "every decision) instead of the champion; `model_promotion` promotes it on live evidence."
        ),
    )
    window: int = Field(default=LstmConfig.window, ge=2, le=256)
    hidden_size: int = Field(default=LstmConfig.hidden_size, ge=2, le=512)
    max_epochs: int = Field(default=LstmConfig.max_epochs, ge=1, le=500)
    patience: int = Field(default=LstmConfig.patience, ge=1, le=100)
    learning_rate: float = Field(default=LstmConfig.learning_rate, gt=0, lt=1)
    folds: int = Field(default=3, ge=1, le=10)
    seed: int = LstmConfig.seed
    judge_decisions: bool = Field(
        default=True,
        description=(
            "Also gate on the replayed decisions: the policy's Sharpe over the final fold's held-out "
            "bars with this version and with the champion (5 bps, the backtest's defaults)."
        ),
    )

    def lstm(self) -> LstmConfig:
        return LstmConfig(
            window=self.window,
            hidden_size=self.hidden_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            learning_rate=self.learning_rate,
            seed=self.seed,
        )


@dg.asset(
    group_name="models",
    kinds={"pytorch", "onnx", "mlflow"},
    owners=["team:ml"],
    code_version="1",
    check_specs=[gate_check_spec("price_predictor")],
    description=(
        f"LSTM over windows of `features` predicting each symbol's next-bar log return, trained "
        f"across symbols with early stopping and evaluated walk-forward (IC, hit rate, against "
        f"zero-return and momentum baselines). Logged and registered as `{PREDICTOR_MODEL}` with an "
        "ONNX artifact checked equal to the eager model; the `champion` alias moves only when the "
        "new version beats the naive baselines and the current champion on the same out-of-sample data "
        "(IC), and the served path replayed over those held-out bars with `market_bars` and "
        "`lona_signals` decides no worse with it than with the champion (the policy's Sharpe, net of costs)."
    ),
)
def price_predictor(
    context: dg.AssetExecutionContext,
    config: PredictorTrainingConfig,
    features: pl.DataFrame,
    market_bars: pl.DataFrame,
    lona_signals: pl.DataFrame,
) -> dg.MaterializeResult:
    # Imported here: torch and MLflow are heavy, and loading the code location should not pay for them.
    from nexus_assets.ml.lifecycle.decisions import DecisionReplay
    from nexus_assets.ml.lifecycle.predictor import train_and_register_predictor
    from nexus_assets.ml.plots import png_markdown

    decisions = DecisionReplay(market_bars, lona_signals) if config.judge_decisions else None
    with tempfile.TemporaryDirectory() as workdir:
        outcome = train_and_register_predictor(
            features,
            workdir=Path(workdir),
            shadow=config.shadow_challengers,
            config=config.lstm(),
            folds=config.folds,
            log=context.log.info,
            tags={"dagster.run_id": context.run_id, "dagster.asset": "price_predictor"},
            decisions=decisions,
        )
    metrics = outcome.metrics
    return dg.MaterializeResult(
        metadata={
            **verdict_metadata(outcome.verdict, outcome.run_id),
            "test_ic": metrics["ic"],
            "test_hit_rate": metrics["hit_rate"],
            "test_r2_vs_zero": metrics["r2_vs_zero"],
            "momentum_ic": metrics["momentum_ic"],
            "onnx_parity_max_abs_diff": outcome.parity_error,
            **{f"gate_{k}": v for k, v in outcome.verdict.details.items()},
            "walk_forward": dg.MetadataValue.md(_table(outcome.fold_table)),
            "predicted_vs_realized": dg.MetadataValue.md(
                png_markdown(outcome.plot_png, "predicted vs realized")
            ),
        },
        check_results=[gate_check_result(outcome.verdict)],
    )


def _table(frame: pl.DataFrame) -> str:
    from nexus_assets.asset_metadata import markdown_table

    return markdown_table(frame.with_columns(pl.selectors.float().round(5)))
