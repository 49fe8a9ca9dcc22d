"""Portfolio optimizer solve times: compiled cvxpy/Clarabel program against scipy's SLSQP formulation.

For each N it builds Ledoit-Wolf covariances from rolling windows of a simulated factor market,
then runs a backtest-like chain of solves with default ``AllocationLimits``: fresh expected
returns and a covariance from the next window each time, the previous solve's weights as the
starting book. It prints the first solve (compile included), then p50/p99 over the rest for the
whole ``WeightOptimizer.solve`` (checks, clean-up and fallback logic included) and for the cvxpy
solve alone (parameter refill + Clarabel, with how many solver settings each needed), the statuses
seen, and the SLSQP reference's time and its agreement on the first solves.
Run: `.venv/bin/python benchmarks/optimizer.py [--sizes 20 100 --solves 500 --reference-solves 30]`.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from nexus_assets.ml.optimizer.inputs import problem_inputs
from nexus_assets.ml.optimizer.limits import turnover_budget
from nexus_assets.ml.optimizer.problem import AllocationProblem
from nexus_assets.ml.optimizer.reference import reference_objective, reference_weights
from nexus_assets.ml.optimizer.weights import AllocationLimits, WeightOptimizer
from nexus_assets.ml.portfolio.covariance import shrunk_covariance

WINDOW = 250
COVARIANCES = 50


def covariances(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shrunk covariances of rolling windows over a three-factor market, daily scale."""
    periods = WINDOW + COVARIANCES
    factors = rng.normal(0.0, 0.008, (periods, 3))
    returns = factors @ rng.normal(0.0, 1.0, (3, n)) + rng.normal(0.0, 0.012, (periods, n))
    return [shrunk_covariance(returns[i : i + WINDOW]) for i in range(COVARIANCES)]


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):7.2f} ms  p99 {np.percentile(ms, 99):7.2f} ms"


def bench(n: int, solves: int, reference_solves: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    limits = AllocationLimits()
    covs = covariances(n, rng)
    mus = rng.normal(3e-4, 1e-3, (solves + 1, n))
    start = time.perf_counter()
    optimizer = WeightOptimizer(n, limits)
    first = optimizer.solve(mus[0], covs[0], np.zeros(n))
    compile_s = time.perf_counter() - start
    previous, whole, statuses, cases = first.weights, [], Counter(), []
    for k in range(1, solves + 1):
        cov = covs[k % COVARIANCES]
        start = time.perf_counter()
        alloc = optimizer.solve(mus[k], cov, previous)
        whole.append(time.perf_counter() - start)
        statuses[alloc.status] += 1
        cases.append((mus[k], cov, previous, alloc))
        previous = alloc.weights
    problem, tradable = AllocationProblem(n, limits), np.ones(n, dtype=bool)
    solver_only, attempts = [], Counter()
    for i, (mu, cov, prev, _) in enumerate([cases[0], *cases]):
        inputs, _ = problem_inputs(
            mu, cov, prev, tradable, limits, turnover_budget(prev, cov, limits, tradable)
        )
        start = time.perf_counter()
        problem.solve(inputs)
        if i > 0:
            solver_only.append(time.perf_counter() - start)
            attempts[problem.attempts] += 1
    reference, gaps, objective_gaps = [], [], []
    for mu, cov, prev, alloc in cases[:reference_solves]:
        start = time.perf_counter()
        expected = reference_weights(mu, cov, prev, limits)
        reference.append(time.perf_counter() - start)
        gaps.append(float(np.abs(expected - alloc.weights).max()))
        objective_gaps.append(abs(reference_objective(expected, mu, cov, prev, limits) - alloc.objective))
    print(f"N = {n}: first solve (compile) {compile_s * 1e3:.0f} ms; statuses {dict(statuses)}")
    print(f"  WeightOptimizer.solve   {percentiles(whole)}  over {solves} solves")
    print(f"  cvxpy + Clarabel only   {percentiles(solver_only)}  Clarabel settings tried: {dict(attempts)}")
    print(f"  scipy SLSQP reference   {percentiles(reference)}  over the first {len(reference)} solves")
    print(f"  agreement: max |w - w_ref| {max(gaps):.1e}, max |objective gap| {max(objective_gaps):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--solves", type=int, default=500)
    parser.add_argument("--reference-solves", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for n in args.sizes:
        bench(n, args.solves, min(args.reference_solves, args.solves), args.seed)


if __name__ == "__main__":
    main()
