"""Triple-barrier labels of signals (López de Prado, *Advances in Financial Machine Learning*, ch. 3).

A signal that opens a position at bar t's close is a bet in its direction. Its label says whether
the bet paid: the first of three barriers it touches decides, an upper one at ``profit_take``
per-bar volatilities times the square root of the horizon, a lower one at ``stop_loss`` of them,
and a vertical one ``horizon`` bars later, where the sign of the return decides. The label is
known only once a barrier is touched: ``resolved`` is that bar, and a model may learn from the
label only after it (the purge that keeps look-ahead out of training).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BarrierConfig:
    horizon: int = 21
    profit_take: float = 1.0
    stop_loss: float = 1.0

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError("horizon: must be at least 1 bar")
        if not (self.profit_take > 0 and self.stop_loss > 0):
            raise ValueError("profit_take, stop_loss: must be positive")


def triple_barrier(
    close: np.ndarray, entry: int, direction: float, volatility: float, config: BarrierConfig
) -> tuple[float, int]:
    """``(label, resolved bar)`` of a bet at ``close[entry]`` in ``direction`` (+1 or -1).

    ``label`` is 1.0 when the bet paid, 0.0 when not, NaN when no barrier is reached within the
    bars given (the label is not known yet); ``resolved`` is the bar at which it became known.
    """
    width = volatility * math.sqrt(config.horizon)
    upper, lower = config.profit_take * width, -config.stop_loss * width
    last = min(entry + config.horizon, close.shape[0] - 1)
    for t in range(entry + 1, last + 1):
        move = direction * math.log(close[t] / close[entry])
        if move >= upper:
            return 1.0, t
        if move <= lower:
            return 0.0, t
    if entry + config.horizon <= close.shape[0] - 1:
        move = direction * math.log(close[last] / close[entry])
        return (1.0 if move > 0 else 0.0), last
    return math.nan, close.shape[0]
