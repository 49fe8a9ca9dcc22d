"""Sliding windows of features for the sequence model, with next-bar targets.

One builder for training, evaluation and serving: a window ending at bar t holds the features
of bars t-W+1..t, and its target is the log return of bar t+1, which no input can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from nexus_assets.ml.features import FEATURE_COLUMNS

SEQUENCE_FEATURES: tuple[str, ...] = FEATURE_COLUMNS
VOL_FEATURE = "rv_21"
MOMENTUM_FEATURE = "mom_63_5"
MOMENTUM_SPAN = 58
"""Bars the momentum feature spans (63 back to 5 back): its per-bar drift is mom / 58."""


@dataclass(frozen=True)
class Sequences:
    """Windows ``x`` [n, window, features] and, per window, what it is and what followed."""

    x: np.ndarray
    target: np.ndarray
    symbol: np.ndarray
    timestamp: np.ndarray
    volatility: np.ndarray
    momentum: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    def select(self, mask: np.ndarray) -> Sequences:
        return Sequences(
            self.x[mask],
            self.target[mask],
            self.symbol[mask],
            self.timestamp[mask],
            self.volatility[mask],
            self.momentum[mask],
        )


def build_sequences(features: pl.DataFrame, window: int, *, with_target: bool = True) -> Sequences:
    """Every window of ``window`` consecutive feature rows per symbol.

    With ``with_target`` the window ending at each symbol's last row is dropped (its next
    return is unknown); without it every window is kept and ``target`` is NaN where unknown.
    """
    if window < 1:
        raise ValueError(f"window: must be at least 1, got {window}")
    missing = [c for c in ("symbol", "timestamp", *SEQUENCE_FEATURES) if c not in features.columns]
    if missing:
        raise ValueError(f"features: missing column(s) {', '.join(missing)}")
    ordered = features.sort("symbol", "timestamp")
    parts: list[Sequences] = []
    for (symbol,), rows in ordered.group_by("symbol", maintain_order=True):
        if rows.height < window:
            continue
        values = rows.select(SEQUENCE_FEATURES).to_numpy().astype(np.float32)
        windows = sliding_window_view(values, (window, values.shape[1]))[:, 0]
        ends = np.arange(window - 1, rows.height)
        next_return = rows["ret_1"].shift(-1).to_numpy().astype(np.float32)[ends]
        keep = ~np.isnan(next_return) if with_target else np.ones(len(ends), dtype=bool)
        end_rows = rows[ends]
        parts.append(
            Sequences(
                x=np.ascontiguousarray(windows[keep]),
                target=next_return[keep],
                symbol=np.full(int(keep.sum()), symbol, dtype=object),
                timestamp=end_rows["timestamp"].to_numpy()[keep],
                volatility=end_rows[VOL_FEATURE].to_numpy().astype(np.float32)[keep],
                momentum=(end_rows[MOMENTUM_FEATURE].to_numpy() / MOMENTUM_SPAN).astype(np.float32)[keep],
            )
        )
    if not parts:
        raise ValueError(f"features: no symbol has the {window} rows one window needs")
    return Sequences(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Sequences.__dataclass_fields__)
    )
