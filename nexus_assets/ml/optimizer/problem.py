"""The allocation problem as one DPP-compliant cvxpy program, compiled once and re-solved with Clarabel.

    maximize    mu'w - (gamma/2) ||y||^2 - c sum(t)
    subject to  y = F w,  lower <= w <= upper,  sum|w| <= max_gross,  net_floor <= sum(w) <= max_net,
                t >= w - prev,  t >= prev - w,  sum(t) <= budget,  ||y|| <= vol_cap

with F'F the per-period covariance, so ||y|| is the per-period portfolio volatility, and t the
absolute trades (maximizing with -c sum(t) makes t = |w - prev| where it matters; c times a norm of
a parameter-affine expression would not be DPP). In long-only mode sum|w| is sum(w). The turnover
and volatility rows exist only when those limits are set, and the risk term only when gamma > 0.
The auxiliary y lets the dense factor enter the program once rather than twice.

Every data-dependent number is a ``cp.Parameter``; cvxpy then caches the canonicalization and a
re-solve only refills the solver's matrices. Each solve rescales its data so tiny and huge inputs
reach the solver at O(1): F is divided by a volatility unit f, the volatility cap when there is
one (the solver's feasibility tolerance is absolute, so the cap becomes 1 and is met to ~1e-8
relative) and else the largest volatility; the objective is divided by s = max(|mu|, gamma f^2, c),
so the risk term's weight gamma f^2 / s is a parameter too.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from nexus_assets.ml.optimizer.inputs import ProblemInputs
from nexus_assets.ml.optimizer.limits import AllocationLimits

__all__ = ["CLARABEL_SETTINGS", "AllocationProblem"]

CLARABEL_SETTINGS: tuple[dict[str, object], ...] = (
    {"direct_solve_method": "qdldl"},
    {"direct_solve_method": "qdldl", "equilibrate_enable": False},
    {"direct_solve_method": "faer", "max_threads": 1},
)
"""Tried in order until one reaches an optimal or a clear infeasible status. Single-threaded QDLDL
is the fastest here; on the rare solve it leaves inaccurate (the primal residual creeps up in the
last iterations once equilibrated), the unequilibrated one or faer's supernodal LDL finishes it.
All single-threaded, so results are deterministic."""
CONCLUSIVE = frozenset({cp.OPTIMAL, cp.INFEASIBLE, cp.UNBOUNDED})
WARM_START = False
"""A fresh Clarabel solver per solve: as fast here as updating the cached one, and the answer then
depends only on the inputs (an updated solver keeps the first problem's equilibration, so the last
digits would depend on what was solved before)."""


class AllocationProblem:
    """The compiled program for one (N, limits); ``solve`` sets parameters and calls Clarabel."""

    def __init__(self, n_assets: int, limits: AllocationLimits) -> None:
        self.n_assets = n_assets
        self.limits = limits
        n = n_assets
        self._w = cp.Variable(n, name="w")
        trades = cp.Variable(n, name="trades")
        risk = cp.Variable(n, name="risk")
        self._mu = cp.Parameter(n, name="mu")
        self._factor = cp.Parameter((n, n), name="factor")
        self._previous = cp.Parameter(n, name="previous")
        self._lower = cp.Parameter(n, name="lower")
        self._upper = cp.Parameter(n, name="upper")
        self._net_floor = cp.Parameter(name="net_floor")
        self._cost = cp.Parameter(nonneg=True, name="cost")
        self._risk_weight = cp.Parameter(nonneg=True, name="risk_weight")
        self._budget = cp.Parameter(nonneg=True, name="budget")
        self._vol_cap = cp.Parameter(nonneg=True, name="vol_cap")
        w = self._w
        gross = cp.sum(w) if limits.long_only else cp.norm1(w)
        constraints = [
            w >= self._lower,
            w <= self._upper,
            gross <= limits.max_gross,
            cp.sum(w) <= limits.max_net,
            cp.sum(w) >= self._net_floor,
            trades >= w - self._previous,
            trades >= self._previous - w,
            risk == self._factor @ w,
        ]
        if limits.max_turnover is not None:
            constraints.append(cp.sum(trades) <= self._budget)
        if limits.target_volatility is not None:
            constraints.append(cp.norm(risk, 2) <= self._vol_cap)
        objective = self._mu @ w - self._cost * cp.sum(trades)
        if limits.risk_aversion > 0.0:
            objective = objective - 0.5 * self._risk_weight * cp.sum_squares(risk)
        self._problem = cp.Problem(cp.Maximize(objective), constraints)
        self.attempts = 0
        """How many ``CLARABEL_SETTINGS`` the last solve tried."""
        if not self._problem.is_dpp():
            raise AssertionError("the allocation problem must be DPP so it compiles once")

    def solve(self, inputs: ProblemInputs) -> tuple[np.ndarray | None, str]:
        """Optimal weights and the solver status; weights are None unless the status is optimal."""
        limits = self.limits
        largest_vol = float(np.sqrt((inputs.factor**2).sum(axis=0).max(initial=0.0)))
        unit = inputs.vol_cap if inputs.vol_cap is not None else largest_vol if largest_vol > 0.0 else 1.0
        risk = limits.risk_aversion * unit**2
        scale = max(float(np.abs(inputs.mu).max(initial=0.0)), risk, limits.cost_per_unit_turnover)
        scale = scale if scale > 0.0 else 1.0
        self._mu.value = inputs.mu / scale
        self._factor.value = inputs.factor / unit
        self._risk_weight.value = risk / scale
        self._previous.value = inputs.previous
        self._lower.value = inputs.lower
        self._upper.value = inputs.upper
        self._net_floor.value = inputs.net_floor
        self._cost.value = limits.cost_per_unit_turnover / scale
        self._budget.value = inputs.budget if inputs.budget is not None else 0.0
        self._vol_cap.value = inputs.vol_cap / unit if inputs.vol_cap is not None else 0.0
        status = "not solved"
        for self.attempts, settings in enumerate(CLARABEL_SETTINGS, start=1):
            try:
                self._problem.solve(solver=cp.CLARABEL, warm_start=WARM_START, **settings)
                status = str(self._problem.status)
            except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
                status = f"solver error: {exc}"
            if status in CONCLUSIVE:
                break
        if status != cp.OPTIMAL or self._w.value is None:
            return None, status
        return np.asarray(self._w.value, dtype=np.float64), status
