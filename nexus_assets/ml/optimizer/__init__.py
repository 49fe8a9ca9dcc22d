"""Target portfolio weights under risk limits: one implementation for allocation, backtest and serving.

``weights`` is the entry point (``WeightOptimizer``, ``optimize_weights``); ``limits`` holds the
limits and the check every allocation passes, ``inputs`` and ``problem`` the cvxpy program,
``fallback`` what to hold when the solver fails, ``reference`` an independent SLSQP check.
"""

import lazy_loader

PUBLIC = {
    "weights": ["Allocation", "WeightOptimizer", "optimize_weights"],
    "limits": ["AllocationLimits", "limit_violations", "turnover_budget"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
