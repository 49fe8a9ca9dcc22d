"""The anomaly detector asset: fit on history, test on injected anomalies, gate the champion."""

import tempfile
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.ml.registry.names import ANOMALY_MODEL

from .gate import gate_check_result, gate_check_spec, verdict_metadata


class AnomalyTrainingConfig(dg.Config):
    shadow_challengers: bool = Field(
        default=False,
        description=(
            "A version that beats the champion offline becomes the `challenger` (scored in shadow on "
            "every decision) instead of the champion; `model_promotion` promotes it on live evidence."
        ),
    )
    n_estimators: int = Field(default=300, ge=10, le=5000)
    max_samples: int = Field(default=1024, ge=16, le=100_000)
    seed: int = 0


@dg.asset(
    group_name="models",
    kinds={"scikitlearn", "mlflow"},
    owners=["team:ml"],
    code_version="1",
    check_specs=[gate_check_spec("anomaly_detector")],
    description=(
        "Isolation forest over scale-free market features plus explicit rules (stale or gapped bars, "
        "extreme moves, signals inconsistent with the market), calibrated to [0, 1]; its score gates "
        f"decisions. Registered as `{ANOMALY_MODEL}` with a compact scorer (flat arrays, no pickle) "
        "equal to scikit-learn's; promoted only when its ROC-AUC on anomalies injected into held-out "
        "bars beats a naive |return|/volatility rule and the current champion on the same data."
    ),
)
def anomaly_detector(
    context: dg.AssetExecutionContext, config: AnomalyTrainingConfig, market_bars: pl.DataFrame
) -> dg.MaterializeResult:
    from nexus_assets.ml.lifecycle.anomaly import train_and_register_anomaly_detector

    with tempfile.TemporaryDirectory() as workdir:
        outcome = train_and_register_anomaly_detector(
            market_bars,
            workdir=Path(workdir),
            shadow=config.shadow_challengers,
            n_estimators=config.n_estimators,
            max_samples=config.max_samples,
            seed=config.seed,
            log=context.log.info,
            tags={"dagster.run_id": context.run_id, "dagster.asset": "anomaly_detector"},
        )
    metrics = outcome.metrics
    return dg.MaterializeResult(
        metadata={
            **verdict_metadata(outcome.verdict, outcome.run_id),
            "training_rows": outcome.training_rows,
            "test_detector_auc": metrics["detector_auc"],
            "test_baseline_auc": metrics["baseline_auc"],
            "test_detector_precision": metrics["detector_precision"],
            "test_detector_recall": metrics["detector_recall"],
        },
        check_results=[gate_check_result(outcome.verdict)],
    )
