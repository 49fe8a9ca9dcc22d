"""An independent formulation of the allocation problem with scipy's SLSQP, to check the cvxpy one.

The variables are the split trades u, v >= 0 with w = w_prev + u - v, so turnover and its cost are
the smooth sum(u + v); with shorts allowed, g >= |w| (g >= w, g >= -w) adds gross <= sum(g). Any
feasible (u, v, g) bounds |w - w_prev|_1 and |w|_1 from above and the tight one is always feasible,
so the optimum over w is the original problem's. Every other limit is a linear inequality in these
variables, and the volatility target a smooth quadratic one. Slow (dense SQP over 2N or 3N
variables) and with no fallback: for tests and the benchmark only.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from nexus_assets.ml.optimizer.limits import AllocationLimits, turnover_budget, weight_bounds

__all__ = ["ReferenceSolveError", "reference_objective", "reference_weights"]

RESTARTS = 2
"""SLSQP's line search sometimes stalls next to the optimum; restarting from where it stopped usually finishes."""


class ReferenceSolveError(RuntimeError):
    """SLSQP did not report success."""


def reference_objective(
    weights: np.ndarray, mu: np.ndarray, cov: np.ndarray, previous: np.ndarray, limits: AllocationLimits
) -> float:
    """mu'w - (risk_aversion/2) w'cov w - cost ||w - prev||_1, per period."""
    return float(
        mu @ weights
        - 0.5 * limits.risk_aversion * weights @ cov @ weights
        - limits.cost_per_unit_turnover * np.abs(weights - previous).sum()
    )


def reference_weights(
    mu: np.ndarray,
    cov: np.ndarray,
    previous: np.ndarray,
    limits: AllocationLimits,
    tradable: np.ndarray | None = None,
) -> np.ndarray:
    """The optimal weights by SLSQP; raises ``ReferenceSolveError`` if it does not converge."""
    n = len(mu)
    tradable = np.ones(n, dtype=bool) if tradable is None else tradable
    lower, upper = weight_bounds(limits, tradable)
    budget = turnover_budget(previous, cov, limits, tradable)
    gamma, cost = limits.risk_aversion, limits.cost_per_unit_turnover
    scale = max(float(np.abs(mu).max()), gamma * float(np.diag(cov).max()), 1e-300)
    long_short = not limits.long_only
    eye, none = np.eye(n), np.zeros((n, n))
    to_w = np.hstack([eye, -eye] + [none] * long_short)
    trades = np.concatenate([np.ones(2 * n), np.zeros(n * long_short)])
    rows, offsets = _linear_constraints(to_w, previous, lower, upper, limits, budget, trades, long_short)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        w = previous + to_w @ x
        value = mu @ w - 0.5 * gamma * w @ cov @ w - cost * trades @ x
        return -value / scale, -(to_w.T @ (mu - gamma * cov @ w) - cost * trades) / scale

    constraints = [{"type": "ineq", "fun": lambda x: rows @ x + offsets, "jac": lambda x: rows}]
    if (cap := limits.period_volatility_cap) is not None:

        def headroom(x: np.ndarray) -> np.ndarray:
            w = previous + to_w @ x
            return np.array([1.0 - w @ cov @ w / cap**2])

        def headroom_jac(x: np.ndarray) -> np.ndarray:
            return (-2.0 * (cov @ (previous + to_w @ x)) @ to_w / cap**2)[None, :]

        constraints.append({"type": "ineq", "fun": headroom, "jac": headroom_jac})
    kept = np.clip(previous, lower, upper)
    start = np.concatenate(
        [np.maximum(kept - previous, 0.0), np.maximum(previous - kept, 0.0)] + [np.abs(kept)] * long_short
    )
    for _ in range(RESTARTS + 1):
        result = minimize(
            objective,
            start,
            jac=True,
            method="SLSQP",
            bounds=[(0.0, None)] * len(start),
            constraints=constraints,
            options={"maxiter": 1000, "ftol": 1e-12},
        )
        if result.success:
            return np.clip(previous + to_w @ result.x, lower, upper)
        start = result.x
    raise ReferenceSolveError(f"SLSQP: {result.message}")


def _linear_constraints(
    to_w: np.ndarray,
    previous: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    limits: AllocationLimits,
    budget: float | None,
    trades: np.ndarray,
    long_short: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows R and offsets r with R x + r >= 0 for bounds, gross, net and turnover."""
    n = len(previous)
    net = to_w.sum(axis=0)
    rows = [to_w, -to_w, -net[None, :], net[None, :]]
    offsets = [
        previous - lower,
        upper - previous,
        [limits.max_net - previous.sum()],
        [previous.sum() - limits.min_net],
    ]
    if long_short:
        spread = np.hstack([np.zeros((n, 2 * n)), np.eye(n)])
        rows += [spread - to_w, spread + to_w, -spread.sum(axis=0)[None, :]]
        offsets += [-previous, previous, [limits.max_gross]]
    else:
        rows.append(-net[None, :])
        offsets.append([limits.max_gross - previous.sum()])
    if budget is not None:
        rows.append(-trades[None, :])
        offsets.append([budget])
    return np.vstack(rows), np.concatenate([np.asarray(o, dtype=np.float64) for o in offsets])
