"""Anomaly scoring speed: scikit-learn's IsolationForest against the compact numpy scorer.

Fits the detector on simulated bars, then times one-row scoring (p50/p99 per call) for
``IsolationForest.score_samples``, ``CompactIsolationForest.score_one`` and the whole
``AnomalyDetector.score`` (model plus every rule), one-row scoring with the CPU caches evicted
before each call (as between a service's requests), batch throughput for both forests, and the
injected-anomaly evaluation of detector against baseline on held-out bars.
Run: `.venv/bin/python benchmarks/anomaly.py [--calls 5000 --sklearn-calls 500 --cold-calls 500]`.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly import evaluate_anomaly_detector, fit_anomaly_detector
from nexus_assets.ml.anomaly.fit import fit_isolation_forest
from nexus_assets.ml.anomaly.inputs import feature_matrix, model_inputs
from nexus_assets.ml.features import LOOKBACK_BARS, compute_features, features_for_last_bar
from nexus_assets.sim.market import MarketSimConfig, simulate_market


def per_call(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """p50 and p99 of one call, in microseconds."""
    fn()
    timings = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        timings[i] = time.perf_counter() - start
    p50, p99 = np.percentile(timings, [50, 99]) * 1e6
    return float(p50), float(p99)


def cold_per_call(fn: Callable[[], object], calls: int, evict_bytes: int = 64 << 20) -> tuple[float, float]:
    """Min and median of one call, in microseconds, each after writing ``evict_bytes`` of memory.

    64 MB is twice the largest last-level cache in use here, so the forest's nodes start cold.
    """
    fn()
    evict = np.zeros(evict_bytes // 8, dtype=np.int64)
    timings = np.empty(calls)
    for i in range(calls):
        np.add(evict, 1, out=evict)
        start = time.perf_counter()
        fn()
        timings[i] = time.perf_counter() - start
    return float(timings.min() * 1e6), float(np.median(timings) * 1e6)


def throughput(fn: Callable[[], object], rows: int, repeats: int = 3) -> float:
    """Rows per second, best of ``repeats``."""
    best = min(_timed(fn) for _ in range(repeats))
    return rows / best


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1260)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--sklearn-calls", type=int, default=500)
    parser.add_argument("--cold-calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    bars = simulate_market(MarketSimConfig(n_bars=args.bars, seed=7))
    times = bars["timestamp"].unique().sort()
    cut = int(len(times) * 0.7)
    train = compute_features(bars.filter(pl.col("timestamp") <= times[cut]))
    holdout_bars = bars.filter(pl.col("timestamp") > times[cut - LOOKBACK_BARS])
    start = time.perf_counter()
    detector = fit_anomaly_detector(train, seed=args.seed)
    fit_s = time.perf_counter() - start
    info = detector.info
    estimator = fit_isolation_forest(
        model_inputs(feature_matrix(train)),
        n_estimators=info["n_estimators"],
        max_samples=info["max_samples"],
        seed=args.seed,
    )
    forest = detector.forest
    inputs = model_inputs(feature_matrix(train))
    agreement = float(np.abs(forest.score_samples(inputs) - estimator.score_samples(inputs)).max())

    print(f"cpu cores: {os.cpu_count()}; training rows: {train.height}; fit: {fit_s:.2f} s")
    print(f"forest: {forest.n_trees} trees, max_samples {info['max_samples']}, {forest.n_levels} levels")
    packed = forest.packed
    print(
        f"nodes: {packed.nodes.shape[0]:,} packed, {packed.nodes.nbytes / 1e6:.2f} MB descended"
        f" + {packed.leaf_path.nbytes / 1e6:.2f} MB leaf path lengths"
    )
    print(f"compact vs sklearn score_samples, max |difference| on training rows: {agreement:.1e}")

    row = inputs[-1]
    window = bars.filter(pl.col("symbol") == bars["symbol"][0]).tail(LOOKBACK_BARS)
    features_row = features_for_last_bar(window)
    mapping = features_row.row(0, named=True)
    now = window["timestamp"][-1] + timedelta(hours=1)
    signal = {"symbol": mapping["symbol"], "side": "buy", "strength": 0.7, "timestamp": now}

    print("\none-row latency (us)                          p50       p99")
    cases: list[tuple[str, Callable[[], object], int]] = [
        (
            "sklearn IsolationForest.score_samples",
            lambda: estimator.score_samples(row[None, :]),
            args.sklearn_calls,
        ),
        ("CompactIsolationForest.score_one", lambda: forest.score_one(row), args.calls),
        ("AnomalyDetector.score(mapping)", lambda: detector.score(mapping), args.calls),
        (
            "AnomalyDetector.score(row, bars, signal, now)",
            lambda: detector.score(features_row, bars_window=window, signal=signal, now=now),
            args.calls,
        ),
    ]
    for name, fn, calls in cases:
        p50, p99 = per_call(fn, calls)
        print(f"{name:45s} {p50:8.1f}  {p99:8.1f}   ({calls} calls)")

    print("\none-row latency, caches evicted before each call (us)   min    median")
    cold_cases: list[tuple[str, Callable[[], object]]] = [
        ("CompactIsolationForest.score_one", lambda: forest.score_one(row)),
        ("AnomalyDetector.score(mapping)", lambda: detector.score(mapping)),
    ]
    for name, fn in cold_cases:
        low, median = cold_per_call(fn, args.cold_calls)
        print(f"{name:45s} {low:8.1f}  {median:8.1f}   ({args.cold_calls} calls)")

    print("\nbatch throughput (rows/s)")
    n = inputs.shape[0]
    print(f"{'sklearn score_samples':45s} {throughput(lambda: estimator.score_samples(inputs), n):12,.0f}")
    print(f"{'compact score_samples':45s} {throughput(lambda: forest.score_samples(inputs), n):12,.0f}")
    print(f"{'AnomalyDetector.score_frame':45s} {throughput(lambda: detector.score_frame(train), n):12,.0f}")

    report = evaluate_anomaly_detector(detector, holdout_bars, seed=args.seed)
    print(
        f"\ninjected-anomaly evaluation on held-out bars ({report['n_clean']:.0f} clean, {report['n_injected']:.0f} injected)"
    )
    for prefix in ("model", "detector", "baseline"):
        print(
            f"{prefix:9s} auc {report[f'{prefix}_auc']:.3f}  precision {report[f'{prefix}_precision']:.3f}  "
            f"recall {report[f'{prefix}_recall']:.3f}  false positives {report[f'{prefix}_false_positive_rate']:.3f}"
        )
    kinds = [key.removeprefix("model_auc_") for key in report if key.startswith("model_auc_")]
    for kind in kinds:
        print(
            f"  {kind:18s} auc model {report[f'model_auc_{kind}']:.3f} baseline {report[f'baseline_auc_{kind}']:.3f}"
            f"   recall detector {report[f'detector_recall_{kind}']:.2f} baseline {report[f'baseline_recall_{kind}']:.2f}"
        )


if __name__ == "__main__":
    main()
