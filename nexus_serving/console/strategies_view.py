"""The strategies panel: each Lona strategy with its backtest, its review, the weight its
signals get, and what the service decided on them live.

The weight is the one a decision applies: the backtest's signal strength
(``lona.signals.signal_strength``) times the review's scale (``reviewed_signals``, an unreviewed
strategy at ``UNREVIEWED_SCALE`` once any review is stored, full strength before any is). The
track record is ``model_monitoring``'s (``ml.monitoring.track_record``): one bar after each
decision, gross of costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from nexus_assets.lona.errors import LonaPayloadError
from nexus_assets.lona.signals import STAT_FIELDS, signal_strength
from nexus_assets.ml.portfolio.news_inputs import reviewed_signals
from nexus_assets.monitoring_record import MonitoringSnapshot, SnapshotUnreadableError, StrategyRecord
from nexus_serving.console.stored_tables import StoredTables
from nexus_serving.stored_asset import StoredAsset, StoredAssetError

T = TypeVar("T")


@dataclass(frozen=True)
class Review:
    verdict: str
    rules_verdict: str
    llm_verdict: str | None
    findings: list[str]
    rationale: str
    reviewer: str
    fallback_reason: str | None
    reviewed_at: datetime | None


@dataclass(frozen=True)
class StrategyRow:
    strategy_id: str
    name: str
    version: str | None
    report_id: str | None
    report_created_at: datetime | None
    stats: dict[str, float | int] | None
    """The latest completed backtest's statistics (``STAT_FIELDS``); None without a report."""
    strength: float | None
    """Signal strength from the backtest; None without a report (its signals do not exist)."""
    review: Review | None
    review_scale: float
    weight: float | None
    """``strength * review_scale``: the share of a signal's strength the decision keeps."""
    track: StrategyRecord | None


@dataclass(frozen=True)
class StrategiesView:
    rows: list[StrategyRow]
    unavailable: str | None
    """Why no strategies are shown; None when the table is stored."""
    problems: list[str]
    """Stored files that could not be read (the rest of the panel is still shown)."""
    reviewed: bool
    monitored_at: datetime | None


def _read(source: StoredAsset[T], problems: list[str]) -> T | None:
    try:
        return source.latest()
    except (StoredAssetError, SnapshotUnreadableError) as exc:
        problems.append(str(exc))
        return None


def _review(row: dict) -> Review:
    findings = [f.strip() for f in (row["findings"] or "").split(";") if f.strip()]
    return Review(
        verdict=row["verdict"],
        rules_verdict=row["rules_verdict"],
        llm_verdict=row["llm_verdict"],
        findings=findings,
        rationale=row["rationale"] or "",
        reviewer=row["reviewer"] or "",
        fallback_reason=row["fallback_reason"],
        reviewed_at=row["reviewed_at"],
    )


def _strength(row: dict, problems: list[str]) -> float | None:
    if row["report_id"] is None:
        return None
    try:
        return signal_strength({name: row[name] for name in STAT_FIELDS})
    except LonaPayloadError as exc:
        problems.append(f"strategy {row['strategy_id']!r}: {exc}")
        return None


def strategies_view(tables: StoredTables) -> StrategiesView:
    problems: list[str] = []
    strategies = _read(tables.strategies, problems)
    reviews = _read(tables.reviews, problems)
    snapshot: MonitoringSnapshot | None = _read(tables.monitoring, problems)
    if strategies is None:
        why = (
            "the stored strategies cannot be read"
            if problems
            else ("no strategies have been materialized yet (the lona_strategies asset)")
        )
        return StrategiesView([], why, problems, reviews is not None, None)
    ids = strategies.select("strategy_id")
    scales = (
        dict(reviewed_signals(ids, reviews).select("strategy_id", "review_scale").iter_rows())
        if reviews is not None
        else {}
    )
    by_id = {} if reviews is None else {r["strategy_id"]: r for r in reviews.iter_rows(named=True)}
    rows = []
    for row in strategies.sort("strategy_id").iter_rows(named=True):
        sid = row["strategy_id"]
        strength = _strength(row, problems)
        scale = float(scales.get(sid, 1.0))
        rows.append(
            StrategyRow(
                strategy_id=sid,
                name=row["name"] or sid,
                version=row["version"],
                report_id=row["report_id"],
                report_created_at=row["report_created_at"],
                stats=None if row["report_id"] is None else {n: row[n] for n in STAT_FIELDS},
                strength=strength,
                review=_review(by_id[sid]) if sid in by_id else None,
                review_scale=scale,
                weight=None if strength is None else strength * scale,
                track=None if snapshot is None else snapshot.track_record(sid),
            )
        )
    return StrategiesView(
        rows, None, problems, reviews is not None, None if snapshot is None else snapshot.evaluated_at
    )
