"""Live skill per model version, with the training metrics and the same naive baselines.

The predictor is scored as at training (``prediction_metrics``: IC and hit rate) beside the
momentum forecast made on the same bars; the volatility model by QLIKE against the squared next
return beside the EWMA (RiskMetrics) forecast; the signal-quality confidence by its Brier score
and calibration error against whether the decision's direction was right. Every figure is over
the same joined rows, so a model and its baseline are always judged on the same days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import polars as pl

from nexus_assets.ml.predictor.evaluation import prediction_metrics
from nexus_assets.ml.volatility.model import qlike

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class PredictorSkill:
    version: str
    n: int
    ic: float
    hit_rate: float
    baseline_ic: float
    """Momentum's IC on the same rows: the naive forecast the predictor must beat."""
    first_bar: datetime | None
    last_bar: datetime | None

    @property
    def edge(self) -> float:
        return self.ic - self.baseline_ic


@dataclass(frozen=True)
class VolatilitySkill:
    version: str
    n: int
    qlike: float
    baseline_qlike: float
    """EWMA's QLIKE on the same rows (lower is better)."""
    first_bar: datetime | None
    last_bar: datetime | None

    @property
    def edge(self) -> float:
        """How much lower the model's loss is than the baseline's; negative: worse than EWMA."""
        return self.baseline_qlike - self.qlike


@dataclass(frozen=True)
class Calibration:
    n: int
    brier: float
    expected_calibration_error: float
    """Mean |confidence - hit rate| over equal-width bins, weighted by their counts."""


def _span(rows: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    if rows.is_empty():
        return None, None
    return rows["bar_time"].min(), rows["bar_time"].max()  # type: ignore[return-value]


def predictor_skill(joined: pl.DataFrame, *, min_rows: int = 3) -> list[PredictorSkill]:
    """One entry per predictor version with at least ``min_rows`` scored predictions."""
    out = []
    rows = joined.filter(pl.col("momentum_forecast").is_not_null())
    for (version,), group in rows.group_by("predictor_version", maintain_order=True):
        if group.height < min_rows:
            continue
        realized = group["next_return"].to_numpy()
        model = prediction_metrics(group["predicted_return"].to_numpy(), realized)
        baseline = prediction_metrics(group["momentum_forecast"].to_numpy(), realized)
        out.append(
            PredictorSkill(
                str(version), group.height, model["ic"], model["hit_rate"], baseline["ic"], *_span(group)
            )
        )
    return sorted(out, key=lambda s: s.version)


def volatility_skill(joined: pl.DataFrame, *, min_rows: int = 3) -> list[VolatilitySkill]:
    out = []
    rows = joined.filter(pl.col("ewma_variance").is_not_null() & (pl.col("volatility_forecast") > 0))
    for (version,), group in rows.group_by("volatility_version", maintain_order=True):
        if group.height < min_rows:
            continue
        squared = group["next_return"].to_numpy() ** 2
        model = qlike(group["volatility_forecast"].to_numpy() ** 2, squared)
        baseline = qlike(group["ewma_variance"].to_numpy(), squared)
        out.append(VolatilitySkill(str(version), group.height, model, baseline, *_span(group)))
    return sorted(out, key=lambda s: s.version)


def calibration(joined: pl.DataFrame) -> Calibration | None:
    """How well ``confidence`` says whether a traded direction was right; None without trades."""
    traded = joined.filter((pl.col("target_weight") != 0) & (pl.col("next_return") != 0))
    if traded.is_empty():
        return None
    confidence = np.clip(traded["confidence"].to_numpy(), 0.0, 1.0)
    hit = (np.sign(traded["target_weight"].to_numpy()) == np.sign(traded["next_return"].to_numpy())).astype(
        float
    )
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    ece = 0.0
    for b in np.unique(bins):
        mask = bins == b
        ece += mask.mean() * abs(confidence[mask].mean() - hit[mask].mean())
    return Calibration(len(hit), float(np.mean((confidence - hit) ** 2)), float(ece))


def recent(joined: pl.DataFrame, window_bars: int) -> pl.DataFrame:
    """The rows on the newest ``window_bars`` bars (of the bars any prediction was made on): the
    window a champion's current skill is judged over."""
    if joined.is_empty():
        return joined
    times = joined["bar_time"].unique().sort()
    return joined.filter(pl.col("bar_time") >= times[max(0, len(times) - window_bars)])


def _rolling(
    rows: pl.DataFrame,
    window_bars: int,
    score: Callable[[pl.DataFrame], tuple[float, float]],
    names: tuple[str, str],
) -> pl.DataFrame:
    """``score(window) -> (model, baseline)`` over each trailing ``window_bars`` bars of ``rows``
    (pooled over symbols), one row per bar with at least three scored predictions."""
    rows = rows.sort("bar_time")
    times = rows["bar_time"].unique().sort()
    out = []
    for i in range(len(times)):
        start = times[max(0, i - window_bars + 1)]
        window = rows.filter(pl.col("bar_time").is_between(start, times[i]))
        if window.height < 3:
            continue
        model, baseline = score(window)
        out.append({"bar_time": times[i], names[0]: model, names[1]: baseline})
    schema = {"bar_time": pl.Datetime("us", "UTC"), names[0]: pl.Float64, names[1]: pl.Float64}
    return pl.DataFrame(out, schema=schema)


def rolling_ic(joined: pl.DataFrame, version: str, window_bars: int) -> pl.DataFrame:
    """``bar_time, ic, baseline_ic`` of one predictor version over each trailing ``window_bars``
    bars (pooled over symbols): the curve an operator watches fall."""
    rows = joined.filter((pl.col("predictor_version") == version) & pl.col("momentum_forecast").is_not_null())

    def score(window: pl.DataFrame) -> tuple[float, float]:
        realized = window["next_return"].to_numpy()
        model = prediction_metrics(window["predicted_return"].to_numpy(), realized)["ic"]
        return model, prediction_metrics(window["momentum_forecast"].to_numpy(), realized)["ic"]

    return _rolling(rows, window_bars, score, ("ic", "baseline_ic"))


def rolling_qlike(joined: pl.DataFrame, version: str, window_bars: int) -> pl.DataFrame:
    """``bar_time, qlike, baseline_qlike`` of one volatility version over each trailing
    ``window_bars`` bars, beside EWMA's on the same rows (lower is better)."""
    rows = joined.filter(
        (pl.col("volatility_version") == version)
        & pl.col("ewma_variance").is_not_null()
        & (pl.col("volatility_forecast") > 0)
    )

    def score(window: pl.DataFrame) -> tuple[float, float]:
        squared = window["next_return"].to_numpy() ** 2
        model = qlike(window["volatility_forecast"].to_numpy() ** 2, squared)
        return model, qlike(window["ewma_variance"].to_numpy(), squared)

    return _rolling(rows, window_bars, score, ("qlike", "baseline_qlike"))


def skill_rows(predictor: list[PredictorSkill], volatility: list[VolatilitySkill]) -> list[dict]:
    """The asset's table rows: one per model version."""
    rows = []
    for skill in predictor:
        rows.append({"model": "predictor", **asdict(skill), "edge": skill.edge})
    for skill in volatility:
        rows.append({"model": "volatility", **asdict(skill), "edge": skill.edge})
    return rows
