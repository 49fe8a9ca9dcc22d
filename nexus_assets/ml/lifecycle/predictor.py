"""Train, evaluate, log, register and gate the LSTM predictor (model ``trade-nexus-predictor``).

Nothing is registered unless training converged and the ONNX artifact reproduces the eager
model; the champion alias then moves only through ``registry.judge_and_promote``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
from mlflow.models import infer_signature

from nexus_assets.ml import plots, registry
from nexus_assets.ml.lifecycle.decisions import DecisionReplay, decision_check
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.evaluation import (
    WalkForwardResult,
    beats_naive_baselines,
    prediction_metrics,
    walk_forward_train,
)
from nexus_assets.ml.predictor.lstm import predict
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor, check_parity, export_onnx
from nexus_assets.ml.predictor.sequences import SEQUENCE_FEATURES, Sequences, build_sequences
from nexus_assets.ml.registry.pyfunc import PREDICTOR_ARTIFACT, OnnxReturnPredictor, predictor_artifact_path
from nexus_assets.ml.registry.release import log_and_register
from nexus_assets.ml.replay.champions import Contender

GATE_METRIC = registry.GateMetric("ic", higher_is_better=True)
SERVING_REQUIREMENTS = ["onnxruntime>=1.32,<2", "numpy>=2.4,<3"]


@dataclass
class PredictorOutcome:
    verdict: registry.Verdict
    run_id: str
    metrics: dict[str, float]
    fold_table: pl.DataFrame
    parity_error: float
    plot_png: bytes
    best_epochs: list[int]


def score_artifact(model_dir: Path, test: Sequences) -> float:
    """The gate metric of a downloaded predictor version on ``test`` (its ONNX artifact)."""
    artifact = OnnxPredictor(predictor_artifact_path(model_dir))
    if artifact.window != test.x.shape[1] or artifact.n_features != test.x.shape[2]:
        raise ValueError(
            f"champion expects windows of {artifact.window}x{artifact.n_features}, "
            f"the candidate's data is {test.x.shape[1]}x{test.x.shape[2]}"
        )
    return prediction_metrics(artifact.predict(test.x), test.target)[GATE_METRIC.name]


def _decision_check(
    decisions: DecisionReplay, features: pl.DataFrame, candidate: Path, test: Sequences
) -> registry.DecisionCheck:
    """The policy's Sharpe over the final fold's held-out bars, with the candidate and the champion."""
    return decision_check(
        decisions,
        Contender(predictor=OnnxPredictor(candidate)),
        lambda folder: Contender(predictor=OnnxPredictor(predictor_artifact_path(folder))),
        test.timestamp.min(),
        features,
    )


def _log_training_curves(fold: int, epoch: int, train_loss: float, validation_loss: float) -> None:
    mlflow.log_metrics(
        {f"fold{fold}_train_loss": train_loss, f"fold{fold}_validation_loss": validation_loss}, step=epoch
    )


def train_and_register_predictor(
    features: pl.DataFrame,
    *,
    workdir: Path,
    config: LstmConfig | None = None,
    folds: int = 3,
    log: Callable[[str], None] = print,
    tags: dict[str, str] | None = None,
    decisions: DecisionReplay | None = None,
    shadow: bool = False,
) -> PredictorOutcome:
    """The whole lifecycle for one training run; raises before registering anything on failure.

    With ``decisions`` (the bars and signals ``features`` came from), the gate also replays the
    served path over the final fold's held-out bars with the candidate and with the champion.
    """
    config = config or LstmConfig()
    client = registry.configure()
    experiment = registry.ensure_experiment(client)
    data = build_sequences(features, config.window)
    run_name = f"predictor-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with mlflow.start_run(experiment_id=experiment, run_name=run_name, tags=tags) as run:
        mlflow.log_params(
            {
                **config.to_params(),
                "folds": folds,
                "windows": len(data),
                "symbols": len(np.unique(data.symbol)),
                "features": ",".join(SEQUENCE_FEATURES),
            }
        )
        result: WalkForwardResult = walk_forward_train(
            data, config, folds=folds, on_epoch=_log_training_curves
        )
        metrics = result.final_metrics
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()} | result.summary())
        log(f"walk-forward: {result.summary()}; final fold IC {metrics['ic']:.4f}")

        onnx_path = workdir / "predictor.onnx"
        export_onnx(result.final.model, onnx_path, result.final_test.x)
        parity = check_parity(result.final.model, OnnxPredictor(onnx_path), result.final_test.x[:256])
        mlflow.log_metric("onnx_parity_max_abs_diff", parity)

        test = result.final_test
        predicted = predict(result.final.model, test.x)
        png = plots.figure_png(
            plots.predicted_vs_realized(predicted, test.target, "Final fold, out of sample")
        )
        mlflow.log_image(plots.png_array(png), "plots/predicted_vs_realized.png")
        history = result.final.history
        mlflow.log_figure(
            plots.loss_curves(history.train_loss, history.validation_loss, "Final fold training"),
            "plots/loss_curves.png",
        )
        mlflow.log_text(result.table().write_csv(), "evaluation/walk_forward.csv")

        version = log_and_register(
            client,
            model_name=registry.PREDICTOR_MODEL,
            python_model=OnnxReturnPredictor(),
            artifacts={PREDICTOR_ARTIFACT: str(onnx_path)},
            signature=infer_signature(test.x[:2], predicted[:2]),
            input_example=test.x[:2],
            requirements=SERVING_REQUIREMENTS,
            version_tags={"window": str(config.window), "trained_until": str(test.timestamp.max())},
        )
        baseline_ok, baseline_reason = beats_naive_baselines(metrics)
        verdict = registry.judge_and_promote(
            client,
            model_name=registry.PREDICTOR_MODEL,
            version=version,
            metric=GATE_METRIC,
            candidate_score=metrics[GATE_METRIC.name],
            baseline_ok=baseline_ok,
            baseline_reason=baseline_reason,
            score_champion=lambda model_dir: score_artifact(model_dir, test),
            workdir=workdir,
            shadow=shadow,
            decision=None if decisions is None else _decision_check(decisions, features, onnx_path, test),
        )
        log(f"{registry.PREDICTOR_MODEL} v{version}: {verdict.reason}")
    return PredictorOutcome(
        verdict=verdict,
        run_id=run.info.run_id,
        metrics=metrics,
        fold_table=result.table(),
        parity_error=parity,
        plot_png=png,
        best_epochs=[result.final.history.best_epoch],
    )
