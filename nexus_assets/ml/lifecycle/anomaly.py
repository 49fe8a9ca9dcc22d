"""Train, evaluate, log, register and gate the anomaly detector (model ``trade-nexus-anomaly``).

Without labels, the out-of-sample test injects known anomalies (spikes, volatility bursts,
volume shocks, stale quotes) into held-out bars; the gate metric is the ROC-AUC of the
detector's score, compared with a naive |return| / volatility rule and with the champion on
exactly the same injected data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import polars as pl
from mlflow.models import infer_signature

from nexus_assets.ml import registry
from nexus_assets.ml.anomaly import (
    REQUIRED_FEATURES,
    AnomalyDetector,
    evaluate_anomaly_detector,
    fit_anomaly_detector,
)
from nexus_assets.ml.features import compute_features
from nexus_assets.ml.registry.pyfunc import ANOMALY_ARTIFACT, AnomalyScorer, anomaly_artifact_dir
from nexus_assets.ml.registry.release import log_and_register

GATE_METRIC = registry.GateMetric("detector_auc", higher_is_better=True, min_improvement=0.002)
HOLDOUT_FRACTION = 0.2
EVALUATION_SEED = 20
SERVING_REQUIREMENTS = ["numpy>=2.4,<3", "polars>=2.1,<3"]


@dataclass
class AnomalyOutcome:
    verdict: registry.Verdict
    run_id: str
    metrics: dict[str, float]
    training_rows: int


def split_bars(
    bars: pl.DataFrame, holdout_fraction: float = HOLDOUT_FRACTION
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bars before and from the split time; the holdout is never seen in training."""
    times = bars["timestamp"].unique().sort()
    if len(times) < 10:
        raise ValueError(f"bars: {len(times)} bar times are too few to hold any out")
    split = times[int(len(times) * (1.0 - holdout_fraction))]
    return bars.filter(pl.col("timestamp") < split), bars.filter(pl.col("timestamp") >= split)


def score_artifact(model_dir: Path, holdout: pl.DataFrame) -> float:
    detector = AnomalyDetector.load(anomaly_artifact_dir(model_dir))
    return evaluate_anomaly_detector(detector, holdout, seed=EVALUATION_SEED)[GATE_METRIC.name]


def train_and_register_anomaly_detector(
    bars: pl.DataFrame,
    *,
    workdir: Path,
    n_estimators: int = 300,
    max_samples: int = 1024,
    seed: int = 0,
    log: Callable[[str], None] = print,
    tags: dict[str, str] | None = None,
    shadow: bool = False,
) -> AnomalyOutcome:
    client = registry.configure()
    experiment = registry.ensure_experiment(client)
    training_bars, holdout = split_bars(bars)
    features = compute_features(training_bars)
    run_name = f"anomaly-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with mlflow.start_run(experiment_id=experiment, run_name=run_name, tags=tags) as run:
        mlflow.log_params(
            {
                "n_estimators": n_estimators,
                "max_samples": max_samples,
                "seed": seed,
                "training_rows": features.height,
                "holdout_start": str(holdout["timestamp"].min()),
            }
        )
        detector = fit_anomaly_detector(
            features, n_estimators=n_estimators, max_samples=max_samples, seed=seed
        )
        metrics = evaluate_anomaly_detector(detector, holdout, seed=EVALUATION_SEED)
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        log(f"anomaly detector AUC {metrics['detector_auc']:.4f} vs baseline {metrics['baseline_auc']:.4f}")
        mlflow.log_text(
            pl.DataFrame([{"metric": k, "value": v} for k, v in metrics.items()]).write_csv(),
            "evaluation/injected_anomalies.csv",
        )
        saved = detector.save(workdir / "anomaly")
        example = features.select(REQUIRED_FEATURES).head(5)
        version = log_and_register(
            client,
            model_name=registry.ANOMALY_MODEL,
            python_model=AnomalyScorer(),
            artifacts={ANOMALY_ARTIFACT: str(saved)},
            signature=infer_signature(example.to_pandas(), detector.score_frame(example).to_numpy()),
            input_example=example.to_pandas(),
            requirements=SERVING_REQUIREMENTS,
            version_tags={"trained_until": str(training_bars["timestamp"].max())},
        )
        baseline_ok = metrics["detector_auc"] > metrics["baseline_auc"]
        reason = f"AUC {metrics['detector_auc']:.4f} vs naive baseline {metrics['baseline_auc']:.4f}"
        verdict = registry.judge_and_promote(
            client,
            model_name=registry.ANOMALY_MODEL,
            version=version,
            metric=GATE_METRIC,
            candidate_score=metrics[GATE_METRIC.name],
            baseline_ok=baseline_ok,
            baseline_reason=reason,
            score_champion=lambda model_dir: score_artifact(model_dir, holdout),
            workdir=workdir,
            shadow=shadow,
        )
        log(f"{registry.ANOMALY_MODEL} v{version}: {verdict.reason}")
    return AnomalyOutcome(
        verdict=verdict, run_id=run.info.run_id, metrics=metrics, training_rows=features.height
    )
