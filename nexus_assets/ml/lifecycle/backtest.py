"""Log a walk-forward backtest to MLflow beside the model runs: parameters, metrics, plot, table."""

from __future__ import annotations

from typing import Any

import mlflow
import polars as pl

from nexus_assets.ml import plots, registry
from nexus_assets.ml.replay import ReplayResult


def log_backtest(
    result: ReplayResult,
    *,
    params: dict[str, Any],
    equity_png: bytes,
    run_name: str,
    tags: dict[str, str] | None = None,
) -> str:
    """One MLflow run in the project's experiment holding the backtest; returns its run id."""
    client = registry.configure()
    metrics = pl.DataFrame([{"row": k, **v} for k, v in result.metrics.items()])
    with mlflow.start_run(
        experiment_id=registry.ensure_experiment(client), run_name=run_name, tags=tags
    ) as run:
        mlflow.log_params(params)
        for strategy, values in result.metrics.items():
            mlflow.log_metrics({f"{strategy}_{k}": v for k, v in values.items()})
        mlflow.log_image(plots.png_array(equity_png), "plots/equity_and_drawdown.png")
        mlflow.log_text(metrics.write_csv(), "evaluation/metrics.csv")
    return run.info.run_id
