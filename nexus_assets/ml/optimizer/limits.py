"""Allocation limits, the check every returned allocation passes, and the forced-sale rule.

Limits fall in two groups. The risk limits (tradable symbols only, long-only, per-symbol weight,
gross, maximum net, volatility target) hold for every allocation, cash included. ``min_net`` and
``max_turnover`` hold for every allocation except the last-resort cash one, which names in its
reason any of these two it breaks (both can be unreachable, e.g. a minimum exposure with too few
tradable symbols, or too far away for the turnover budget).

The turnover limit yields to forced sales: the budget is the larger of ``max_turnover`` and the
turnover of moving the previous weights into the risk limits (``clip_into_limits``) plus
``FORCED_SALE_ALLOWANCE``: selling a symbol that stopped trading, trimming a position above
``max_weight`` after the limits changed, or scaling the book down after a volatility spike is
always allowed. The allowance (a millionth of the book) leaves the solver room to aim strictly
inside the budget even when forced sales alone use it up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FORCED_SALE_ALLOWANCE",
    "LIMIT_TOLERANCE",
    "AllocationLimits",
    "annualized_volatility",
    "clip_into_limits",
    "limit_violations",
    "portfolio_variance",
    "turnover",
    "turnover_budget",
    "weight_bounds",
]

FORCED_SALE_ALLOWANCE = 1e-6
"""Turnover granted on top of forced sales, so the budget always exceeds them (see the module docstring)."""
LIMIT_TOLERANCE = 1e-9
"""Absolute slack, in weight (or annualized volatility) units, within which a returned allocation meets every limit."""


@dataclass(frozen=True)
class AllocationLimits:
    """Risk limits and objective settings for one rebalance; hashable, so compiled problems cache by it."""

    max_weight: float = 0.25
    max_gross: float = 1.0
    max_net: float = 1.0
    min_net: float = 0.0
    long_only: bool = True
    max_turnover: float | None = 0.5
    target_volatility: float | None = 0.10
    periods_per_year: int = 252
    risk_aversion: float = 5.0
    cost_per_unit_turnover: float = 0.0005

    def __post_init__(self) -> None:
        """Reject limits no portfolio meets, so infeasibility only ever comes from the data."""
        for name in ("max_weight", "max_gross", "max_net", "risk_aversion", "cost_per_unit_turnover"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name}: must be finite and >= 0, got {value}")
        if not math.isfinite(self.min_net):
            raise ValueError(f"min_net: must be finite, got {self.min_net}")
        if not -self.max_gross <= self.min_net <= min(self.max_net, self.max_gross):
            raise ValueError(
                f"min_net: must lie in [-max_gross, min(max_net, max_gross)], got {self.min_net}"
                f" with max_net={self.max_net}, max_gross={self.max_gross}"
            )
        if self.max_turnover is not None and not (
            math.isfinite(self.max_turnover) and self.max_turnover >= 0
        ):
            raise ValueError(f"max_turnover: must be None or finite and >= 0, got {self.max_turnover}")
        if self.target_volatility is not None and not (
            math.isfinite(self.target_volatility) and self.target_volatility > 0
        ):
            raise ValueError(
                f"target_volatility: must be None or finite and > 0, got {self.target_volatility}"
            )
        if self.periods_per_year <= 0:
            raise ValueError(f"periods_per_year: must be > 0, got {self.periods_per_year}")

    @property
    def period_volatility_cap(self) -> float | None:
        """The volatility target in per-period units, the units of the covariance."""
        if self.target_volatility is None:
            return None
        return self.target_volatility / math.sqrt(self.periods_per_year)


def weight_bounds(limits: AllocationLimits, tradable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-symbol lower and upper weight; both 0 for a symbol that cannot trade."""
    upper = np.where(tradable, limits.max_weight, 0.0)
    lower = np.zeros_like(upper) if limits.long_only else -upper
    return lower, upper


def turnover(weights: np.ndarray, previous: np.ndarray) -> float:
    """Sum of absolute weight changes."""
    return float(np.abs(weights - previous).sum())


def portfolio_variance(weights: np.ndarray, covariance: np.ndarray) -> float:
    """w' cov w over the symbols held, so entries of symbols not held may be NaN; NaN if unknown."""
    held = np.flatnonzero(weights)
    if held.size == 0:
        return 0.0
    w = weights[held]
    block = covariance[np.ix_(held, held)]
    if not np.all(np.isfinite(block)):
        return math.nan
    variance = float(w @ block @ w)
    scale = float(np.abs(w) @ np.sqrt(np.abs(np.diag(block))))
    if variance < -1e-12 * scale**2:
        return math.nan
    return max(variance, 0.0)


def annualized_volatility(weights: np.ndarray, covariance: np.ndarray, limits: AllocationLimits) -> float:
    """Annualized portfolio volatility, the units of ``target_volatility``; NaN if unknown."""
    return math.sqrt(portfolio_variance(weights, covariance) * limits.periods_per_year)


def clip_into_limits(
    weights: np.ndarray, covariance: np.ndarray, limits: AllocationLimits, tradable: np.ndarray
) -> np.ndarray:
    """Weights moved into the risk limits by clipping and scaling toward cash, never by buying.

    Non-tradable symbols go to 0, each weight into its bounds; the whole book then scales down
    for gross, net (either side, when ``min_net <= 0``) and the volatility target. The volatility
    step is skipped when the risk of the held symbols is unknown.
    """
    lower, upper = weight_bounds(limits, tradable)
    w = np.clip(weights, lower, upper)
    gross = float(np.abs(w).sum())
    if gross > limits.max_gross:
        w = w * (limits.max_gross / gross)
    net = float(w.sum())
    if net > limits.max_net:
        w = w * (limits.max_net / net)
    elif net < limits.min_net <= 0.0:
        w = w * (limits.min_net / net)
    cap = limits.target_volatility
    vol = annualized_volatility(w, covariance, limits)
    if cap is not None and math.isfinite(vol) and vol > cap:
        w = w * (cap / vol)
    return w


def turnover_budget(
    previous: np.ndarray, covariance: np.ndarray, limits: AllocationLimits, tradable: np.ndarray
) -> float | None:
    """``max_turnover``, raised to the turnover the risk limits force on the previous weights (+ allowance)."""
    if limits.max_turnover is None:
        return None
    forced = turnover(clip_into_limits(previous, covariance, limits, tradable), previous)
    return max(limits.max_turnover, forced + FORCED_SALE_ALLOWANCE)


def limit_violations(
    weights: np.ndarray,
    previous: np.ndarray,
    covariance: np.ndarray,
    limits: AllocationLimits,
    tradable: np.ndarray,
    *,
    budget: float | None,
    tolerance: float = LIMIT_TOLERANCE,
) -> list[str]:
    """Every limit the weights break by more than ``tolerance``, as readable strings; [] if none."""
    if not np.all(np.isfinite(weights)):
        return ["weights are not finite"]
    found: list[str] = []
    lower, upper = weight_bounds(limits, tradable)
    if np.any(np.abs(weights[~tradable]) > tolerance):
        found.append("non-tradable symbols hold weight")
    outside = (weights[tradable] < lower[tradable] - tolerance) | (
        weights[tradable] > upper[tradable] + tolerance
    )
    if outside.any():
        found.append(f"{int(outside.sum())} weights outside [{lower.min(initial=0.0)}, {limits.max_weight}]")
    gross, net = float(np.abs(weights).sum()), float(weights.sum())
    if gross > limits.max_gross + tolerance:
        found.append(f"gross {gross:.6g} above max_gross {limits.max_gross}")
    if net > limits.max_net + tolerance:
        found.append(f"net {net:.6g} above max_net {limits.max_net}")
    if net < limits.min_net - tolerance:
        found.append(f"net {net:.6g} below min_net {limits.min_net}")
    if budget is not None and (moved := turnover(weights, previous)) > budget + tolerance:
        found.append(f"turnover {moved:.6g} above budget {budget:.6g}")
    vol = annualized_volatility(np.where(tradable, weights, 0.0), covariance, limits)
    if not math.isfinite(vol):
        found.append("volatility unknown: covariance of held symbols is not finite or not PSD")
    elif limits.target_volatility is not None and vol > limits.target_volatility + tolerance:
        found.append(f"volatility {vol:.6g} above target {limits.target_volatility}")
    return found
