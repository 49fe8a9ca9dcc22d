"""The anomaly detector of the day on a symbol's newest bar, as the decision service scores it."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from nexus_assets.ml.anomaly.bar_window import bar_window
from nexus_assets.ml.features import FEATURE_COLUMNS
from nexus_assets.ml.replay.champions import ModelViews
from nexus_assets.ml.replay.prices import ReplayBars


class AnomalyScores:
    """The day's detector on each symbol's newest bar, its bar window and arriving signal; computed once per cell."""

    def __init__(self, data: ReplayBars, views: ModelViews, window: int) -> None:
        self._views, self._window = views, window
        self.scores = np.full(data.close.shape, np.nan)
        self._rows: list[np.ndarray] = []
        self._columns: list[dict[str, np.ndarray]] = []
        for _, bars in data.bars.group_by("symbol", maintain_order=True):
            self._rows.append(data.index_of(bars["timestamp"]))
            columns = {"timestamp": bars["timestamp"].dt.epoch("us").to_numpy()}
            columns.update(
                {name: bars[name].to_numpy() for name in ("open", "high", "low", "close", "volume")}
            )
            self._columns.append(columns)
        self._calendar = data.calendar

    def score(self, row: int, symbol: int, signal: dict[str, Any] | None) -> float:
        if math.isnan(self.scores[row, symbol]):
            detector = self._views.detector_at(row)
            end = int(np.searchsorted(self._rows[symbol], row)) + 1
            start = max(end - self._window, 0)
            recent = bar_window(
                {name: values[start:end] for name, values in self._columns[symbol].items()}, detector.rules
            )
            newest = dict(zip(FEATURE_COLUMNS, self._views.features[row, symbol].tolist(), strict=True))
            now: datetime = self._calendar[row]
            incoming = None
            if signal is not None:
                incoming = {k: signal[k] for k in ("symbol", "side", "strength", "timestamp")}
            self.scores[row, symbol] = detector.score(newest, recent, incoming, now).score
        return float(self.scores[row, symbol])
