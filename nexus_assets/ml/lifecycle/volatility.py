"""Evaluate, log, register and gate the volatility forecaster (model ``trade-nexus-volatility``).

Two questions, two tests. Does the method beat the classics? A walk-forward over all history
scores it against GARCH(1,1) and EWMA(0.94) at the same origins (QLIKE). Is this version
better than the champion? The candidate is fitted on everything before a held-out tail, and
both it and the champion forecast that tail with their fixed coefficients. The volatility
forecast sizes every decision, so with the graph's bars and signals the gate also replays the
served path over that tail with each (``lifecycle.decisions``, no predictor): a version that
forecasts better but decides worse keeps the champion in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import polars as pl
from mlflow.models import infer_signature

from nexus_assets.ml import plots, registry
from nexus_assets.ml.lifecycle.decisions import DecisionReplay, decision_check
from nexus_assets.ml.registry.pyfunc import (
    VOLATILITY_ARTIFACT,
    VolatilityForecaster,
    volatility_artifact_file,
)
from nexus_assets.ml.registry.release import log_and_register
from nexus_assets.ml.volatility.model import (
    INPUT_COLUMNS,
    TARGET_COLUMN,
    VolatilityModel,
    fit_volatility_model,
    qlike,
    volatility_inputs,
)
from nexus_assets.ml.volatility.walkforward import DEFAULT_REFIT_EVERY, WalkForwardResult, walk_forward

GATE_METRIC = registry.GateMetric("holdout_qlike", higher_is_better=False, min_improvement=1e-4)
HOLDOUT_FRACTION = 0.2
SERVING_REQUIREMENTS = ["numpy>=2.4,<3", "polars>=2.1,<3"]


@dataclass
class VolatilityOutcome:
    verdict: registry.Verdict
    run_id: str
    metrics: dict[str, float]
    model: VolatilityModel
    plot_png: bytes


def holdout_split(
    inputs: pl.DataFrame, fraction: float = HOLDOUT_FRACTION
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows whose target is known before the held-out tail, and the tail's rows with a target."""
    known = inputs.filter(pl.col(TARGET_COLUMN).is_not_null())
    times = known["timestamp"].unique().sort()
    cut = int(len(times) * (1.0 - fraction))
    if cut < 2:
        raise ValueError(f"bars: {len(times)} bar times are too few to hold {fraction:.0%} out")
    # A row's target is the next bar's return: the row just before the tail would see into it.
    train = known.filter(pl.col("timestamp") < times[cut - 1])
    return train, known.filter(pl.col("timestamp") >= times[cut])


def holdout_qlike(model: VolatilityModel, holdout: pl.DataFrame) -> float:
    return qlike(model.forecast_variance(holdout), holdout[TARGET_COLUMN].to_numpy())


def score_artifact(model_dir: Path, holdout: pl.DataFrame) -> float:
    model = VolatilityModel.from_dict(json.loads(volatility_artifact_file(model_dir).read_text()))
    return holdout_qlike(model, holdout)


def _decision_check(
    decisions: DecisionReplay, candidate: VolatilityModel, holdout: pl.DataFrame
) -> registry.DecisionCheck:
    """The policy's Sharpe over the held-out tail sized by the candidate and by the champion."""
    from nexus_assets.ml.replay.champions import Contender

    def champion_of(folder: Path) -> Contender:
        stored = json.loads(volatility_artifact_file(folder).read_text())
        return Contender(volatility=VolatilityModel.from_dict(stored))

    return decision_check(
        decisions, Contender(volatility=candidate), champion_of, holdout["timestamp"].to_numpy().min()
    )


def _walk_forward_metrics(result: WalkForwardResult) -> dict[str, float]:
    summary = result.summary
    return {
        "walk_forward_qlike_model": summary.model,
        "walk_forward_qlike_garch11": summary.garch,
        "walk_forward_qlike_ewma94": summary.ewma,
        "walk_forward_origins": float(summary.n_origins),
        "walk_forward_refits": float(result.n_refits),
        "garch_unconverged_fits": float(result.garch_unconverged),
    }


def train_and_register_volatility_model(
    bars: pl.DataFrame,
    *,
    workdir: Path,
    warmup: int = 500,
    refit_every: int = DEFAULT_REFIT_EVERY,
    log: Callable[[str], None] = print,
    tags: dict[str, str] | None = None,
    decisions: DecisionReplay | None = None,
    shadow: bool = False,
) -> VolatilityOutcome:
    """The whole lifecycle for one run; with ``decisions``, the gate also replays decisions."""
    client = registry.configure()
    experiment = registry.ensure_experiment(client)
    inputs = volatility_inputs(bars)
    train, holdout = holdout_split(inputs)
    run_name = f"volatility-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with mlflow.start_run(experiment_id=experiment, run_name=run_name, tags=tags) as run:
        mlflow.log_params(
            {
                "warmup": warmup,
                "refit_every": refit_every,
                "window": "expanding",
                "holdout_fraction": HOLDOUT_FRACTION,
            }
        )
        result = walk_forward(bars, warmup=warmup, refit_every=refit_every)
        model = fit_volatility_model(train)
        metrics = {
            **_walk_forward_metrics(result),
            "holdout_qlike": holdout_qlike(model, holdout),
            "holdout_rows": float(holdout.height),
            "training_rows": float(train.height),
        }
        mlflow.log_metrics(metrics)
        mlflow.log_params({f"coef_{i}": c for i, c in enumerate(model.coefficients)})
        mlflow.log_text(result.forecasts.write_csv(), "evaluation/walk_forward_forecasts.csv")
        first = result.forecasts.filter(pl.col("symbol") == result.forecasts["symbol"][0]).drop_nulls()
        png = plots.figure_png(
            plots.forecast_vs_realized(
                first["model_variance"].to_numpy(),
                first["realized_sq_return"].to_numpy(),
                f"{first['symbol'][0]}: walk-forward forecast vs realized",
            )
        )
        mlflow.log_image(plots.png_array(png), "plots/forecast_vs_realized.png")
        log(
            f"walk-forward QLIKE model {result.summary.model:.5f}, GARCH(1,1) {result.summary.garch:.5f}, "
            f"EWMA {result.summary.ewma:.5f} over {result.summary.n_origins} origins"
        )
        artifact = workdir / "volatility_model.json"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_text(json.dumps(model.to_dict(), indent=2))
        example = holdout.select(INPUT_COLUMNS).head(5)
        version = log_and_register(
            client,
            model_name=registry.VOLATILITY_MODEL,
            python_model=VolatilityForecaster(),
            artifacts={VOLATILITY_ARTIFACT: str(artifact)},
            signature=infer_signature(example.to_pandas(), model.forecast_variance(example)),
            input_example=example.to_pandas(),
            requirements=SERVING_REQUIREMENTS,
            version_tags={"trained_until": str(train["timestamp"].max()), "method": model.version},
        )
        summary = result.summary
        baseline_ok = summary.model < summary.garch and summary.model < summary.ewma
        reason = f"walk-forward QLIKE {summary.model:.5f} vs GARCH(1,1) {summary.garch:.5f}, EWMA {summary.ewma:.5f}"
        verdict = registry.judge_and_promote(
            client,
            model_name=registry.VOLATILITY_MODEL,
            version=version,
            metric=GATE_METRIC,
            candidate_score=metrics["holdout_qlike"],
            baseline_ok=baseline_ok,
            baseline_reason=reason,
            score_champion=lambda model_dir: score_artifact(model_dir, holdout),
            workdir=workdir,
            shadow=shadow,
            decision=None if decisions is None else _decision_check(decisions, model, holdout),
        )
        log(f"{registry.VOLATILITY_MODEL} v{version}: {verdict.reason}")
    return VolatilityOutcome(
        verdict=verdict, run_id=run.info.run_id, metrics=metrics, model=model, plot_png=png
    )
