"""Stored tables as the graph writes them, for the console's tests (plain HTTP and browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from nexus_assets.lona.strategy_table import strategies_table
from nexus_assets.ml.review.schema import REVIEW_SCHEMA
from nexus_assets.monitoring_record import (
    CheckVerdict,
    FeatureDriftRow,
    MonitoringSnapshot,
    StrategyRecord,
    curve,
)


def lona_strategies() -> pl.DataFrame:
    """Three strategies as ``lona_strategies`` stores them: a good backtest, a poor one, none."""
    listed = [
        {"id": sid, "name": name, "description": "", "version": "1", "language": "python", "code": "pass"}
        for sid, name in (("st-good", "Trend"), ("st-poor", "Mean reversion"), ("st-new", "Fresh"))
    ]
    report = {"status": "COMPLETED", "created_at": "2026-11-01T00:00:00Z"}
    stats = {
        "st-good": {"total_return": 0.25, "sharpe_ratio": 1.8, "max_drawdown": 0.08, "win_rate": 0.61, "total_trades": 40},
        "st-poor": {"total_return": -0.12, "sharpe_ratio": -0.4, "max_drawdown": 0.3, "win_rate": 0.42, "total_trades": 12},
    }  # fmt: skip
    latest = {sid: {**report, "id": f"rep-{sid}", "total_stats": s} for sid, s in stats.items()}
    return strategies_table(listed, latest)


def reviews() -> pl.DataFrame:
    row = {
        "strategy_id": "st-poor", "name": "Mean reversion", "version": "1", "verdict": "caution",
        "strength_scale": 0.5, "rules_verdict": "caution", "llm_verdict": None,
        "findings": "warn: few trades (12); info: no stop-loss orders (exits only on signals)",
        "rationale": "Too few trades <script>alert(1)</script>", "reviewer": "rules",
        "fallback_reason": "no xAI key", "model": None, "prompt_version": "v1",
        "reviewed_at": datetime(2026, 11, 2, tzinfo=UTC), "cached": False,
    }  # fmt: skip
    return pl.DataFrame([row], schema=REVIEW_SCHEMA)


def snapshot(run_id: str = "0123456789abcdef") -> MonitoringSnapshot:
    at = datetime(2026, 11, 3, tzinfo=UTC)
    record = {
        "executed": 0, "reduced": 0, "rejected": 0, "halted": 0,
        "first_decided_at": at, "last_decided_at": at,
    }  # fmt: skip
    return MonitoringSnapshot(
        evaluated_at=at,
        run_id=run_id,
        window_bars=63,
        champions={"predictor": "1", "volatility": "1"},
        checks=[
            CheckVerdict(name="predictor_live_skill", level="fail", reason="live IC -0.05 is below momentum's 0.02"),
            CheckVerdict(name="feature_drift", level="pass", reason="median PSI 0.03"),
        ],
        skill=[
            {"model": "predictor", "version": "1", "champion": True, "n": 500, "ic": -0.05, "hit_rate": 0.47,
             "baseline_ic": 0.02, "qlike": None, "baseline_qlike": None, "edge": -0.07,
             "first_bar": at.isoformat(), "last_bar": at.isoformat()},
        ],
        curves=[curve("predictor", "1", True, "ic", pl.DataFrame(
            {"bar_time": [at, at + timedelta(days=1)], "ic": [0.1, -0.05], "baseline_ic": [0.0, 0.02]}
        ))],
        drift=[FeatureDriftRow(feature="ret_1", psi=0.31), FeatureDriftRow(feature="vol_21", psi=0.02)],
        psi_warn=0.1,
        psi_fail=0.25,
        strategies=[
            StrategyRecord(strategy_id="st-good", decisions=30, traded=20, scored=28, hit_rate=0.6,
                           gross_return=0.012, mean_gross_return=0.0006, **{**record, "executed": 20}),
            StrategyRecord(strategy_id="st-poor", decisions=10, traded=8, scored=9, hit_rate=0.25,
                           gross_return=-0.004, mean_gross_return=-0.0005, **{**record, "halted": 2}),
        ],
    )  # fmt: skip
