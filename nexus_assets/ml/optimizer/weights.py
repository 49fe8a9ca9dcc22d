"""Target portfolio weights under risk limits: one implementation for allocation, backtest and serving.

``optimize_weights`` maximizes mu'w - (risk_aversion/2) w'cov w - cost ||w - w_prev||_1 over the
weights that meet ``AllocationLimits`` (see ``optimizer_problem`` for the exact program and
``optimizer_limits`` for which limits may yield). Non-tradable symbols are held at exactly 0 and
their expected return and covariance entries are ignored, so they may be NaN.

The solver's answer is used only if its status is optimal and its weights meet every limit within
``SOLVER_TOLERANCE``; they are then clipped and scaled into the risk limits (``clip_into_limits``),
pulled back toward the previous weights clipped into the limits if that left them a hair over the
turnover budget, and must then meet every limit within ``LIMIT_TOLERANCE``. Anything else
(non-finite inputs for a tradable symbol, a covariance that is not PSD, solver failure, an
infeasible or inaccurate solve) falls back as ``optimizer_fallback`` describes, with the reason
recorded. The program is compiled once per (N, limits) and cached, so a backtest's repeated solves
only refill parameters.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from nexus_assets.ml.optimizer.fallback import fallback_weights, toward_within_budget
from nexus_assets.ml.optimizer.inputs import problem_inputs
from nexus_assets.ml.optimizer.limits import (
    LIMIT_TOLERANCE,
    AllocationLimits,
    annualized_volatility,
    clip_into_limits,
    limit_violations,
    portfolio_variance,
    turnover,
    turnover_budget,
)

__all__ = [
    "LIMIT_TOLERANCE",
    "SOLVER_TOLERANCE",
    "Allocation",
    "AllocationLimits",
    "AllocationStatus",
    "WeightOptimizer",
    "optimize_weights",
]

AllocationStatus = Literal["optimal", "fallback_previous", "fallback_inverse_volatility", "cash"]
SOLVER_TOLERANCE = 1e-6
"""A solver answer breaking a limit by more than this is not trusted, however small the clean-up would be."""


@dataclass(frozen=True)
class Allocation:
    """Target weights and how they were obtained; ``reason`` says why when status is not optimal."""

    weights: np.ndarray
    status: AllocationStatus
    reason: str | None
    objective: float | None
    expected_volatility: float
    """Annualized, the units of ``AllocationLimits.target_volatility``."""


class WeightOptimizer:
    """The compiled problem for N symbols and fixed limits; ``solve`` is safe to call from threads."""

    def __init__(self, n_assets: int, limits: AllocationLimits) -> None:
        if n_assets < 1:
            raise ValueError(f"n_assets: must be >= 1, got {n_assets}")
        from nexus_assets.ml.optimizer.problem import (
            AllocationProblem,
        )  # cvxpy: ~1 s to import, so on first use

        self.n_assets = n_assets
        self.limits = limits
        self._problem = AllocationProblem(n_assets, limits)
        self._lock = threading.Lock()

    def solve(
        self,
        expected_returns: np.ndarray,
        covariance: np.ndarray,
        previous_weights: np.ndarray,
        tradable: np.ndarray | None = None,
    ) -> Allocation:
        """Optimal weights, or the fallback with its reason; always within the limits, never NaN."""
        mu, cov, previous, can_trade = self._checked(expected_returns, covariance, previous_weights, tradable)
        limits = self.limits
        kept = clip_into_limits(previous, cov, limits, can_trade)
        budget = turnover_budget(previous, cov, limits, can_trade)
        inputs, reason = problem_inputs(mu, cov, previous, can_trade, limits, budget)
        if inputs is not None:
            with self._lock:
                raw, status = self._problem.solve(inputs)
            if raw is None:
                reason = f"solver returned status {status}"
            elif problems := limit_violations(
                raw, previous, cov, limits, can_trade, budget=budget, tolerance=SOLVER_TOLERANCE
            ):
                reason = "solver weights break limits: " + "; ".join(problems)
            else:
                weights = toward_within_budget(
                    kept, clip_into_limits(raw, cov, limits, can_trade), previous, budget
                )
                problems = limit_violations(weights, previous, cov, limits, can_trade, budget=budget)
                if not problems:
                    return self._allocation(weights, "optimal", None, mu, cov, previous)
                reason = "solver weights still break limits after clean-up: " + "; ".join(problems)
        weights, fallback, notes = fallback_weights(previous, cov, limits, can_trade, budget)
        return self._allocation(weights, fallback, "; ".join([str(reason), *notes]), mu, cov, previous)

    def _checked(
        self, mu: np.ndarray, cov: np.ndarray, previous: np.ndarray, tradable: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = self.n_assets
        arrays = (
            np.asarray(mu, dtype=np.float64),
            np.asarray(cov, dtype=np.float64),
            np.asarray(previous, dtype=np.float64),
            np.ones(n, dtype=bool) if tradable is None else np.asarray(tradable),
        )
        for name, array, shape in zip(
            ("expected_returns", "covariance", "previous_weights", "tradable"),
            arrays,
            ((n,), (n, n), (n,), (n,)),
            strict=True,
        ):
            if array.shape != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
        if arrays[3].dtype != np.bool_:
            raise ValueError(f"tradable: expected a boolean array, got dtype {arrays[3].dtype}")
        if not np.all(np.isfinite(arrays[2])):
            raise ValueError("previous_weights: must be finite (0 for a symbol not held)")
        return arrays

    def _allocation(
        self,
        weights: np.ndarray,
        status: AllocationStatus,
        reason: str | None,
        mu: np.ndarray,
        cov: np.ndarray,
        previous: np.ndarray,
    ) -> Allocation:
        limits = self.limits
        held = weights != 0.0
        objective = (
            float(mu[held] @ weights[held])
            - 0.5 * limits.risk_aversion * portfolio_variance(weights, cov)
            - limits.cost_per_unit_turnover * turnover(weights, previous)
        )
        weights = weights + 0.0  # a copy, and -0.0 becomes 0.0
        return Allocation(
            weights=weights,
            status=status,
            reason=reason,
            objective=objective if math.isfinite(objective) else None,
            expected_volatility=annualized_volatility(weights, cov, limits),
        )


@lru_cache(maxsize=16)
def _cached_optimizer(n_assets: int, limits: AllocationLimits) -> WeightOptimizer:
    return WeightOptimizer(n_assets, limits)


def optimize_weights(
    expected_returns: np.ndarray,
    covariance: np.ndarray,
    previous_weights: np.ndarray,
    limits: AllocationLimits,
    *,
    tradable: np.ndarray | None = None,
) -> Allocation:
    """Target weights for per-period expected returns and covariance; see the module docstring.

    Reuses a compiled ``WeightOptimizer`` per (N, limits); hold one yourself to control its lifetime.
    """
    n_assets = int(np.asarray(expected_returns).shape[0]) if np.ndim(expected_returns) == 1 else -1
    if n_assets < 1:
        raise ValueError(
            f"expected_returns: expected a non-empty [N] array, got shape {np.shape(expected_returns)}"
        )
    return _cached_optimizer(n_assets, limits).solve(expected_returns, covariance, previous_weights, tradable)
