"""What `model_monitoring` costs over a year of decisions for 500 symbols (target: under a minute).

Writes one decision per symbol per bar for ``--bars`` bars through the decision service's own
SQLite sink, then times each step of the asset's computation on the simulated market: reading the
audit log, the outcomes, the join, live skill per version, the rolling IC curve and drift.
Run: ``.venv/bin/python benchmarks/monitoring.py [--symbols 500] [--bars 252]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np

from nexus_assets.clock import now_utc
from nexus_assets.decision_log import served_predictions
from nexus_assets.ml.features import FEATURE_COLUMNS, compute_features
from nexus_assets.ml.monitoring import (
    bar_outcomes,
    feature_drift,
    join_outcomes,
    predictor_skill,
    rolling_ic,
    volatility_skill,
)
from nexus_assets.ml.monitoring.skill import recent
from nexus_assets.sim.market import MarketSimConfig, latest_close, simulate_market, start_for_end
from nexus_serving.audit import AuditRecord
from nexus_serving.audit.record import to_row
from nexus_serving.audit.sinks import SqliteSink
from nexus_serving.schemas import DecisionResponse

VERSIONS = {"trade-nexus-predictor": "4", "trade-nexus-volatility": "2", "trade-nexus-anomaly": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=252)
    args = parser.parse_args()
    history = args.bars + 300
    symbols = tuple(f"S{i:03d}" for i in range(args.symbols))
    start = start_for_end(latest_close(now_utc()), history)
    market = simulate_market(MarketSimConfig(symbols=symbols, n_bars=history, seed=3, start=start))
    features = compute_features(market)
    times = market["timestamp"].unique().sort()
    served = market.filter(market["timestamp"] >= times[history - args.bars])
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.db"
        sink = SqliteSink(path)
        records = [
            AuditRecord(
                symbol,
                DecisionResponse(
                    request_id=uuid.uuid4().hex,
                    decision_id=uuid.uuid4().hex,
                    action="execute",
                    target_weight=0.01,
                    quantity=None,
                    confidence=0.6,
                    predicted_return=float(rng.normal(0, 0.01)),
                    volatility_forecast=0.015,
                    anomaly_score=0.1,
                    reasons=[],
                    model_versions=VERSIONS,
                    decided_at=at + timedelta(hours=1),
                ),
                "f" * 64,
                1.0,
                b"{}",
                fingerprint=uuid.uuid4().bytes,
            )
            for symbol, at in served.select("symbol", "timestamp").iter_rows()
        ]
        started = time.perf_counter()
        for i in range(0, len(records), 5000):
            sink.commit([to_row(r) for r in records[i : i + 5000]])
        sink.close()
        print(f"wrote {len(records):,} decisions in {time.perf_counter() - started:.1f} s (setup)")

        steps: list[tuple[str, float]] = []

        def timed(name, step):
            began = time.perf_counter()
            value = step()
            steps.append((name, time.perf_counter() - began))
            return value

        predictions = timed("read the audit log", lambda: served_predictions(f"sqlite:///{path}", days=3660))
        outcomes = timed("outcomes (next return, EWMA, momentum)", lambda: bar_outcomes(market, features))
        joined = timed("join predictions to outcomes", lambda: join_outcomes(predictions, outcomes))
        timed(
            "live skill per version (all, newest 63 bars)",
            lambda: (predictor_skill(joined), volatility_skill(joined), predictor_skill(recent(joined, 63))),
        )
        timed("rolling IC curve (63 bars)", lambda: rolling_ic(joined, "4", 63))
        timed(
            "feature drift (PSI, 63 against 252 bars)",
            lambda: feature_drift(features, FEATURE_COLUMNS, trained_until=times[history - args.bars]),
        )
    for name, seconds in steps:
        print(f"{name:48s} {seconds:7.2f} s")
    print(
        f"{'total (the asset computation)':48s} {sum(s for _, s in steps):7.2f} s  for {joined.height:,} scored decisions"
    )


if __name__ == "__main__":
    main()
