"""Out-of-sample evaluation of return predictions against naive baselines.

Metrics are pooled over every (symbol, bar) of a test block: the information coefficient
(Spearman rank correlation of prediction and realized return), hit rate (share of correct
signs), mean squared error and R^2 against the zero-return forecast. The baselines are the
zero return (what a random walk predicts) and momentum (the 63-to-5-bar trend, per bar).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.lstm import TrainedPredictor, predict, train_predictor
from nexus_assets.ml.predictor.sequences import Sequences


def prediction_metrics(prediction: np.ndarray, realized: np.ndarray) -> dict[str, float]:
    """IC, hit rate, MSE and out-of-sample R^2 versus predicting zero."""
    prediction = prediction.astype(np.float64)
    realized = realized.astype(np.float64)
    moving = realized != 0
    varying = np.ptp(prediction) > 0
    ic = float(spearmanr(prediction, realized).statistic) if varying and len(realized) > 2 else 0.0
    mse = float(np.mean((prediction - realized) ** 2))
    zero_mse = float(np.mean(realized**2))
    return {
        "ic": ic,
        "hit_rate": float(np.mean(np.sign(prediction[moving]) == np.sign(realized[moving]))),
        "mse": mse,
        "r2_vs_zero": 1.0 - mse / zero_mse if zero_mse > 0 else 0.0,
    }


def evaluate_block(prediction: np.ndarray, data: Sequences) -> dict[str, float]:
    """Model metrics plus the momentum and zero baselines on the same windows."""
    model = prediction_metrics(prediction, data.target)
    momentum = prediction_metrics(data.momentum, data.target)
    return {
        **model,
        "momentum_ic": momentum["ic"],
        "momentum_hit_rate": momentum["hit_rate"],
        "momentum_mse": momentum["mse"],
        "zero_mse": float(np.mean(data.target.astype(np.float64) ** 2)),
        "n_windows": float(len(data)),
    }


def beats_naive_baselines(metrics: dict[str, float]) -> tuple[bool, str]:
    """The promotion floor: rank skill above zero and above momentum's, and a lower MSE than momentum."""
    if metrics["ic"] <= 0.0:
        return False, f"IC {metrics['ic']:.4f} is not positive (the zero-return baseline has no skill)"
    if metrics["ic"] <= metrics["momentum_ic"]:
        return False, f"IC {metrics['ic']:.4f} does not beat momentum's {metrics['momentum_ic']:.4f}"
    if metrics["mse"] >= metrics["momentum_mse"]:
        return False, f"MSE {metrics['mse']:.3e} does not beat momentum's {metrics['momentum_mse']:.3e}"
    return True, f"IC {metrics['ic']:.4f} > momentum {metrics['momentum_ic']:.4f} and > 0"


@dataclass(frozen=True)
class Fold:
    train: Sequences
    validation: Sequences
    test: Sequences


def walk_forward_folds(
    data: Sequences, *, folds: int = 3, test_fraction: float = 0.1, validation_fraction: float = 0.15
) -> list[Fold]:
    """Expanding-window folds over the shared timeline, oldest first.

    Fold k tests on the k-th of the last ``folds`` blocks of bars; it trains on everything
    before its validation block, which sits right before the test block. One bar is left
    out at each boundary, since a window's target is the next bar's return.
    """
    times = np.unique(data.timestamp)
    block = max(1, int(len(times) * test_fraction))
    val_len = max(1, int(len(times) * validation_fraction))
    if folds < 1:
        raise ValueError(f"folds: must be at least 1, got {folds}")
    result = []
    for k in range(folds, 0, -1):
        test_start = len(times) - k * block
        test_end = test_start + block
        val_start = test_start - val_len
        if val_start < 2:
            raise ValueError(f"history: {len(times)} bars are too few for {folds} folds")
        t = data.timestamp
        result.append(
            Fold(
                train=data.select(t < times[val_start - 1]),
                validation=data.select((t >= times[val_start]) & (t < times[test_start - 1])),
                test=data.select((t >= times[test_start]) & (t <= times[min(test_end, len(times)) - 1])),
            )
        )
    return result


@dataclass
class WalkForwardResult:
    final: TrainedPredictor
    final_test: Sequences
    fold_metrics: list[dict[str, float]]

    @property
    def final_metrics(self) -> dict[str, float]:
        return self.fold_metrics[-1]

    def summary(self) -> dict[str, float]:
        keys = ("ic", "hit_rate", "r2_vs_zero", "momentum_ic", "momentum_hit_rate")
        return {f"walk_forward_{k}": float(np.mean([m[k] for m in self.fold_metrics])) for k in keys}

    def table(self) -> pl.DataFrame:
        return pl.DataFrame([{"fold": i + 1, **m} for i, m in enumerate(self.fold_metrics)])


FoldCallback = Callable[[int, int, float, float], None]


def walk_forward_train(
    data: Sequences, config: LstmConfig, *, folds: int = 3, on_epoch: FoldCallback | None = None
) -> WalkForwardResult:
    """Train and evaluate one model per fold; the last fold's model is the candidate."""
    metrics: list[dict[str, float]] = []
    for number, fold in enumerate(walk_forward_folds(data, folds=folds), start=1):
        callback = (lambda e, tr, va, n=number: on_epoch(n, e, tr, va)) if on_epoch else None
        trained = train_predictor(fold.train, fold.validation, config, callback)
        metrics.append(evaluate_block(predict(trained.model, fold.test.x), fold.test))
    return WalkForwardResult(final=trained, final_test=fold.test, fold_metrics=metrics)
