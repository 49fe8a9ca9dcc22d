"""Meta-labeling in the replay: each entry signal sized by the chance that its bet pays.

Every buy or sell is labelled by the triple barrier (``metalabel.labels``) on its symbol's closes
with the trailing 21-bar volatility at entry. At each retrain bar T the model
(``metalabel.model``) is fitted on the signals of the trailing ``train_bars`` whose label was
known by T (the purge: a label resolves when a barrier is touched), and sizes every entry signal
arriving until the next retrain. Its inputs are the signal's feature row, direction and
strength and its strategy's record: the hit rate (with one win and one loss as the prior) and
the count of its labels resolved before the signal, so a strategy that loses money loses weight
from its own track record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from nexus_assets.ml.features import FEATURE_COLUMNS
from nexus_assets.ml.metalabel.labels import BarrierConfig, triple_barrier
from nexus_assets.ml.metalabel.model import bet_size, fit_meta_labeler
from nexus_assets.ml.portfolio.policy import SIDES

_RV = FEATURE_COLUMNS.index("rv_21")


@dataclass(frozen=True)
class MetaSizes:
    scale: dict[tuple[int, int, str], float]
    """``(row, symbol index, strategy)`` of each entry signal -> its bet size in [0, 1]."""
    fitted: int
    """Retrains at which the model could be fitted (enough resolved labels of both kinds)."""
    labels: int
    paid: float
    """Share of all resolved labels that paid."""


def _record(strategies: np.ndarray, rows: np.ndarray, resolved: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """Per event: its strategy's hit rate and label count over labels resolved before its row."""
    out = np.zeros((rows.shape[0], 2))
    for strategy in np.unique(strategies):
        mine = np.flatnonzero(strategies == strategy)
        known = mine[np.isfinite(paid[mine])]
        order = known[np.argsort(resolved[known], kind="stable")]
        times, wins = resolved[order], np.cumsum(paid[order])
        seen = np.searchsorted(times, rows[mine], side="left")
        won = np.where(seen > 0, wins[np.maximum(seen - 1, 0)], 0.0)
        out[mine, 0] = (won + 1.0) / (seen + 2.0)
        out[mine, 1] = seen
    return out


def meta_sizes(
    placed: pl.DataFrame,
    close: np.ndarray,
    features: np.ndarray,
    symbols: list[str],
    starts: list[int],
    train_bars: int,
    barriers: BarrierConfig | None = None,
) -> MetaSizes:
    """Bet sizes of the entry signals in ``placed`` (with their calendar ``row``), walk-forward."""
    barriers = barriers or BarrierConfig()
    index = {s: i for i, s in enumerate(symbols)}
    entries = placed.filter(pl.col("side").is_in(["buy", "sell"]))
    rows = entries["row"].to_numpy()
    columns = np.array([index[s] for s in entries["symbol"]], dtype=np.int64)
    strategies = entries["strategy_id"].to_numpy()
    n = rows.shape[0]
    x = np.full((n, len(FEATURE_COLUMNS) + 4), np.nan)
    paid, resolved = np.full(n, np.nan), np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    for k, (row, column, side, strength) in enumerate(
        zip(rows, columns, entries["side"], entries["strength"], strict=True)
    ):
        x[k, : len(FEATURE_COLUMNS)] = features[row, column]
        x[k, len(FEATURE_COLUMNS)] = SIDES[side]
        x[k, len(FEATURE_COLUMNS) + 1] = strength
        volatility = features[row, column, _RV]
        series = close[:, column]
        if math.isfinite(volatility) and volatility > 0 and math.isfinite(series[row]):
            priced = np.isfinite(series[row:])
            stop = row + (int(np.argmin(priced)) if not priced.all() else priced.shape[0])
            label, when = triple_barrier(series[:stop], row, SIDES[side], volatility, barriers)
            if math.isfinite(label):
                paid[k], resolved[k] = label, when
    x[:, len(FEATURE_COLUMNS) + 2 :] = _record(strategies, rows, resolved, paid)
    usable = np.isfinite(x).all(axis=1)
    scale: dict[tuple[int, int, str], float] = {}
    fitted = 0
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else np.iinfo(np.int64).max
        learn = usable & (resolved <= start) & (rows >= start - train_bars) & np.isfinite(paid)
        model = fit_meta_labeler(x[learn], paid[learn])
        now = np.flatnonzero((rows >= start) & (rows < end))
        if model is None or now.size == 0:
            sizes = np.ones(now.size)
        else:
            fitted += 1
            sizes = np.ones(now.size)
            ok = usable[now]
            sizes[ok] = bet_size(model.probability(x[now[ok]]))
        for event, size in zip(now, sizes, strict=True):
            scale[(int(rows[event]), int(columns[event]), str(strategies[event]))] = float(size)
    known = np.isfinite(paid)
    return MetaSizes(scale, fitted, int(known.sum()), float(paid[known].mean()) if known.any() else math.nan)
