"""How far the book the engine holds is from the allocation we asked for.

Per symbol, the target weight against what is held plus what is still pending, both marked at
the allocation's prices on the equity it was sized on. A gap beyond the tolerance means the
book will not reach the target by itself: an order was rejected, lost, partly cancelled, or
someone else traded the portfolio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.01
"""One percent of equity per symbol: well above lot rounding (one share of a $500 stock is
0.05% of a $1M book), well below a missed trade."""


@dataclass(frozen=True)
class Divergence:
    symbol: str
    target_weight: float
    held_weight: float
    pending_weight: float

    @property
    def gap(self) -> float:
        """Target minus where the book is headed (held plus pending)."""
        return self.target_weight - self.held_weight - self.pending_weight

    def describe(self) -> str:
        return (
            f"{self.symbol}: target {self.target_weight:.4f}, held {self.held_weight:.4f}, "
            f"pending {self.pending_weight:+.4f}, gap {self.gap:+.4f}"
        )


def book_divergences(
    target_weights: Mapping[str, float],
    positions: Mapping[str, float],
    pending: Mapping[str, float],
    prices: Mapping[str, float],
    equity: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[Divergence]:
    """Every symbol whose gap exceeds ``tolerance``, in symbol order; a symbol without a price is
    compared at weight zero held (it cannot be marked) and so diverges when it has a target."""
    if equity <= 0:
        raise ValueError(f"equity: must be greater than 0, got {equity!r}")
    out = []
    for symbol in sorted(target_weights.keys() | positions.keys() | pending.keys()):
        price = prices.get(symbol)
        held = positions.get(symbol, 0.0) * price / equity if price else 0.0
        moving = pending.get(symbol, 0.0) * price / equity if price else 0.0
        divergence = Divergence(symbol, float(target_weights.get(symbol, 0.0)), held, moving)
        if abs(divergence.gap) > tolerance:
            out.append(divergence)
    return out
