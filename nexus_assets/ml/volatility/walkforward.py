"""Walk-forward evaluation of the volatility model against GARCH(1,1) and EWMA on the same origins.

An origin is a bar at which a forecast of the next bar's squared return is made, using bars up
to and including it. The pooled model is refitted on a calendar schedule (the first origin,
then every ``refit_every`` distinct timestamps) on rows whose target was already known at the
refit date; each symbol's GARCH is refitted at the same dates, on its returns up to the date,
and every forecast in between uses the latest fit. Rows after each symbol's ``warmup``-th bar
are origins, the last bar included (its realized value is unknown and left out of QLIKE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from nexus_assets.ml.volatility.baselines import (
    MIN_GARCH_OBS,
    ewma_forecasts,
    garch11_forecasts,
)
from nexus_assets.ml.volatility.inputs import (
    INPUT_COLUMNS,
    TARGET_COLUMN,
    VOL_LOOKBACK_BARS,
    checked_bars,
    volatility_inputs_lazy,
)
from nexus_assets.ml.volatility.model import (
    MIN_TRAIN_ROWS,
    VolatilityModel,
    fit_arrays,
    qlike,
)

Window = Literal["expanding", "rolling"]
Progress = Callable[[int, int], None]
"""Called with (fits done, fits in total) after each model or GARCH fit."""

DEFAULT_WARMUP = 500
DEFAULT_REFIT_EVERY = 21
MIN_WARMUP: int = max(VOL_LOOKBACK_BARS - 1 + MIN_TRAIN_ROWS, MIN_GARCH_OBS)
"""The first fit needs ``MIN_TRAIN_ROWS`` complete rows and GARCH ``MIN_GARCH_OBS`` returns."""
FORECAST_COLUMNS: tuple[str, ...] = (
    "symbol",
    "timestamp",
    "model_variance",
    "garch_variance",
    "ewma_variance",
    "realized_sq_return",
)


@dataclass(frozen=True)
class QlikeSummary:
    """Mean QLIKE per method over the origins whose next return is known (lower is better)."""

    model: float
    garch: float
    ewma: float
    n_origins: int


@dataclass(frozen=True)
class WalkForwardResult:
    """Per-origin forecasts (``FORECAST_COLUMNS``), their QLIKE summary and the last fitted model.

    ``garch_unconverged`` counts GARCH fits whose optimizer did not report convergence even
    after a retry from the previous estimates; a non-zero count qualifies the comparison.
    """

    forecasts: pl.DataFrame
    summary: QlikeSummary
    n_refits: int
    final_model: VolatilityModel
    garch_unconverged: int


def check_options(warmup: int, refit_every: int, window: str) -> None:
    if warmup < MIN_WARMUP:
        raise ValueError(f"warmup: must be at least {MIN_WARMUP} bars, got {warmup}")
    if refit_every < 1:
        raise ValueError(f"refit_every: must be at least 1 bar, got {refit_every}")
    if window not in ("expanding", "rolling"):
        raise ValueError(f"window: must be 'expanding' or 'rolling', got {window!r}")


def _table(bars: pl.DataFrame, warmup: int) -> pl.DataFrame:
    """Every bar with its inputs, position in its symbol, calendar index and the target's calendar index."""
    checked = checked_bars(bars)
    counts = checked.group_by("symbol").len()
    if counts.select(pl.col("len").max()).item() <= warmup:
        longest = counts.sort("len", "symbol", descending=[True, False]).row(0)
        raise ValueError(
            f"bars: symbol {longest[0]!r} has {longest[1]} bars, "
            f"walk-forward with warmup={warmup} needs at least {warmup + 1}"
        )
    return (
        volatility_inputs_lazy(checked)
        .with_columns(
            pl.int_range(pl.len()).over("symbol").alias("position"),
            (pl.col("timestamp").rank("dense") - 1).cast(pl.Int64).alias("calendar"),
        )
        .with_columns(pl.col("calendar").shift(-1).over("symbol").alias("target_calendar"))
        .collect()
    )


def _refit_dates(
    table: pl.DataFrame, is_origin: np.ndarray, refit_every: int
) -> tuple[np.ndarray, np.ndarray]:
    """Calendar indexes of refits that some origin uses, and the refit each origin row uses."""
    calendar = table["calendar"].to_numpy()
    first = int(calendar[is_origin].min())
    schedule = np.arange(first, int(calendar.max()) + 1, refit_every)
    fit_of_row = np.searchsorted(schedule, calendar, side="right") - 1
    used = np.unique(fit_of_row[is_origin])
    return schedule[used], np.searchsorted(schedule[used], calendar, side="right") - 1


def _model_forecasts(
    table: pl.DataFrame,
    is_origin: np.ndarray,
    dates: np.ndarray,
    fit_of_row: np.ndarray,
    rolling: int | None,
    tick: Callable[[bool], None],
) -> tuple[np.ndarray, VolatilityModel]:
    inputs = {name: table[name].to_numpy() for name in INPUT_COLUMNS}
    target = table[TARGET_COLUMN].fill_null(np.nan).to_numpy()
    calendar = table["calendar"].to_numpy()
    target_calendar = table["target_calendar"].fill_null(np.iinfo(np.int64).max).to_numpy()
    trainable = table["complete"].to_numpy() & ~np.isnan(target)
    out = np.full(table.height, np.nan)
    model: VolatilityModel | None = None
    for k, date in enumerate(dates):
        rows = trainable & (target_calendar <= date)
        if rolling is not None:
            rows &= calendar >= date - rolling
        model = fit_arrays({n: v[rows] for n, v in inputs.items()}, target[rows])
        use = is_origin & (fit_of_row == k)
        out[use] = model.forecast_arrays({n: v[use] for n, v in inputs.items()})
        tick(True)
    assert model is not None
    return out, model


def _baseline_forecasts(
    table: pl.DataFrame,
    is_origin: np.ndarray,
    fit_of_row: np.ndarray,
    rolling: int | None,
    tick: Callable[[bool], None],
) -> tuple[np.ndarray, np.ndarray]:
    garch, ewma = np.full(table.height, np.nan), np.full(table.height, np.nan)
    returns_all = table["ret_1"].fill_null(np.nan).to_numpy()
    positions = table["position"].to_numpy()
    starts = np.flatnonzero(positions == 0)
    for start, end in zip(starts, np.append(starts[1:], table.height), strict=True):
        rows = np.flatnonzero(is_origin[start:end]) + start
        if rows.size == 0:
            continue
        returns = returns_all[start + 1 : end]  # return index j belongs to the bar at position j + 1
        origins = positions[rows] - 1
        fits = fit_of_row[rows]
        refits = np.concatenate([[True], fits[1:] != fits[:-1]])
        garch[rows] = garch11_forecasts(returns, origins, window=rolling, refits=refits, on_refit=tick)
        ewma[rows] = ewma_forecasts(returns)[origins]
    return garch, ewma


def walk_forward(
    bars: pl.DataFrame,
    *,
    warmup: int = DEFAULT_WARMUP,
    refit_every: int = DEFAULT_REFIT_EVERY,
    window: Window = "expanding",
    progress: Progress | None = None,
) -> WalkForwardResult:
    """Out-of-sample forecasts of the model, GARCH(1,1) and EWMA(0.94) at the same origins.

    ``window="rolling"`` fits on the last ``warmup`` bars instead of all history. Raises
    ValueError for bad bars (naming column and row), bad options, or too little history.
    """
    check_options(warmup, refit_every, window)
    table = _table(bars, warmup)
    is_origin = table["position"].to_numpy() >= warmup
    dates, fit_of_row = _refit_dates(table, is_origin, refit_every)
    garch_fits = set(zip(table["symbol"].to_numpy()[is_origin], fit_of_row[is_origin], strict=True))
    total, done, unconverged = len(dates) + len(garch_fits), [0], [0]

    def tick(converged: bool) -> None:
        done[0] += 1
        unconverged[0] += not converged
        if progress is not None:
            progress(done[0], total)

    rolling = warmup if window == "rolling" else None
    model, final_model = _model_forecasts(table, is_origin, dates, fit_of_row, rolling, tick)
    garch, ewma = _baseline_forecasts(table, is_origin, fit_of_row, rolling, tick)
    forecasts = (
        table.select("symbol", "timestamp", pl.col(TARGET_COLUMN).alias("realized_sq_return"))
        .with_columns(model_variance=model, garch_variance=garch, ewma_variance=ewma)
        .filter(pl.Series(is_origin))
        .select(FORECAST_COLUMNS)
    )
    return WalkForwardResult(
        forecasts=forecasts,
        summary=summarize(forecasts),
        n_refits=len(dates),
        final_model=final_model,
        garch_unconverged=unconverged[0],
    )


def summarize(forecasts: pl.DataFrame) -> QlikeSummary:
    """QLIKE of each method over the forecast rows whose realized squared return is known."""
    known = forecasts.filter(pl.col("realized_sq_return").is_not_null())
    if known.is_empty():
        nan = float("nan")
        return QlikeSummary(model=nan, garch=nan, ewma=nan, n_origins=0)
    realized = known["realized_sq_return"].to_numpy()
    return QlikeSummary(
        model=qlike(known["model_variance"].to_numpy(), realized),
        garch=qlike(known["garch_variance"].to_numpy(), realized),
        ewma=qlike(known["ewma_variance"].to_numpy(), realized),
        n_origins=known.height,
    )
