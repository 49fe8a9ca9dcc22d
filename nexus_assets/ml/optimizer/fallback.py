"""What to hold when the solver gives no usable answer: previous weights, inverse volatility, or cash.

Each candidate is accepted only if it passes ``limit_violations`` (every limit, turnover budget
included); the first that does wins. Cash is the last resort and always returned if reached: it
meets every risk limit, and the reason names any of ``min_net`` or the turnover budget it breaks.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from nexus_assets.ml.optimizer.limits import (
    AllocationLimits,
    annualized_volatility,
    clip_into_limits,
    limit_violations,
    turnover,
)

__all__ = ["FallbackStatus", "fallback_weights", "inverse_volatility_weights", "toward_within_budget"]

FallbackStatus = Literal["fallback_previous", "fallback_inverse_volatility", "cash"]


def fallback_weights(
    previous: np.ndarray,
    covariance: np.ndarray,
    limits: AllocationLimits,
    tradable: np.ndarray,
    budget: float | None,
) -> tuple[np.ndarray, FallbackStatus, list[str]]:
    """The first acceptable of: previous clipped into limits, inverse volatility, cash; with notes why not earlier."""
    notes: list[str] = []

    def broken(weights: np.ndarray) -> list[str]:
        return limit_violations(weights, previous, covariance, limits, tradable, budget=budget)

    kept = clip_into_limits(previous, covariance, limits, tradable)
    if not (problems := broken(kept)):
        return kept, "fallback_previous", notes
    notes.append("previous weights clipped into limits: " + "; ".join(problems))
    spread = inverse_volatility_weights(covariance, limits, tradable)
    if spread is None:
        notes.append("inverse volatility: no tradable symbol with a known volatility")
    else:
        anchor_known = math.isfinite(annualized_volatility(kept, covariance, limits))
        candidate = toward_within_budget(kept, spread, previous, budget) if anchor_known else spread
        if not (problems := broken(candidate)):
            return candidate, "fallback_inverse_volatility", notes
        notes.append("inverse volatility: " + "; ".join(problems))
    cash = np.zeros_like(previous)
    if problems := broken(cash):
        notes.append("cash breaks " + "; ".join(problems))
    return cash, "cash", notes


def inverse_volatility_weights(
    covariance: np.ndarray, limits: AllocationLimits, tradable: np.ndarray
) -> np.ndarray | None:
    """Long weights proportional to 1/vol over tradable symbols with known risk, inside the risk limits.

    Total exposure aims at min(max_gross, max_net), capped per symbol at ``max_weight`` with the
    excess spread over the rest; the book then scales down to the volatility target.
    """
    variances = np.diag(covariance)
    candidates = np.flatnonzero(tradable & np.isfinite(variances) & (variances > 0.0))
    block = covariance[np.ix_(candidates, candidates)]
    known = candidates[np.isfinite(block).all(axis=1)]
    exposure = min(limits.max_gross, limits.max_net)
    if known.size == 0 or exposure <= 0.0 or limits.max_weight <= 0.0:
        return None
    weights = np.zeros(len(tradable))
    weights[known] = _capped_proportional(1.0 / np.sqrt(variances[known]), exposure, limits.max_weight)
    return clip_into_limits(weights, covariance, limits, tradable)


def toward_within_budget(
    start: np.ndarray, target: np.ndarray, previous: np.ndarray, budget: float | None
) -> np.ndarray:
    """The point of the segment start -> target farthest along whose turnover fits the budget.

    Turnover is convex along the segment, so moving a share s of the way costs at most
    (1 - s) turnover(start) + s turnover(target); s is the largest share that bound allows.
    """
    if budget is None:
        return target
    at_start, at_target = turnover(start, previous), turnover(target, previous)
    if at_target <= budget:
        return target
    share = min(max((budget - at_start) / (at_target - at_start), 0.0), 1.0)
    return start + share * (target - start)


def _capped_proportional(raw: np.ndarray, total: float, cap: float) -> np.ndarray:
    """Weights proportional to raw summing to total, none above cap; the capped excess goes to the rest."""
    weights = np.zeros_like(raw)
    free = np.ones(raw.shape, dtype=bool)
    remaining = total
    while free.any() and remaining > 0.0:
        share = remaining * raw[free] / raw[free].sum()
        over = share > cap
        if not over.any():
            weights[free] = share
            break
        index = np.flatnonzero(free)[over]
        weights[index] = cap
        free[index] = False
        remaining = total - weights.sum()
    return weights
