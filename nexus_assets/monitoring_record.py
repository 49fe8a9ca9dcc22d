"""What ``model_monitoring`` found at its last run, kept for the operator console.

The asset's own table holds one skill row per model version; the console also shows the
curves (rolling live IC and QLIKE beside their baselines), each feature's drift, the checks'
verdicts and each strategy's track record. They are written together, atomically, as one JSON
document (``<NEXUS_DATA_DIR>/model_monitoring/snapshot.json``) and read back strictly: a file
that does not match names the field that does not.
"""

from __future__ import annotations

import math
from datetime import datetime

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from upath import UPath

from nexus_assets.paths import data_dir
from nexus_assets.stored_files import write_atomically

SNAPSHOT_FILE = "model_monitoring/snapshot.json"
MAX_CURVE_POINTS = 1000
"""A curve keeps its newest points only: the console draws the recent past."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckVerdict(_Strict):
    name: str
    level: str
    """``pass``, ``warn``, ``fail`` or ``unmeasured`` (too few predictions for a verdict)."""
    reason: str


class Curve(_Strict):
    """One model version's rolling live skill and its naive baseline's on the same rows."""

    model: str
    version: str
    champion: bool
    metric: str
    """``ic`` (higher is better) or ``qlike`` (lower is better)."""
    t: list[float]
    """Bar times, seconds since the epoch (the chart's x axis)."""
    value: list[float | None]
    baseline: list[float | None]


class FeatureDriftRow(_Strict):
    feature: str
    psi: float | None


class StrategyRecord(_Strict):
    strategy_id: str
    decisions: int
    executed: int
    reduced: int
    rejected: int
    halted: int
    scored: int
    traded: int
    hit_rate: float | None
    gross_return: float
    mean_gross_return: float | None
    first_decided_at: datetime
    last_decided_at: datetime


class MonitoringSnapshot(_Strict):
    evaluated_at: datetime
    run_id: str
    window_bars: int = Field(ge=1)
    champions: dict[str, str | None]
    checks: list[CheckVerdict]
    skill: list[dict[str, object]]
    """The asset's table rows (``SKILL_SCHEMA``), times as ISO text."""
    curves: list[Curve]
    drift: list[FeatureDriftRow]
    psi_warn: float
    psi_fail: float
    strategies: list[StrategyRecord]

    @field_validator("skill")
    @classmethod
    def _rows_are_flat(cls, rows: list[dict[str, object]]) -> list[dict[str, object]]:
        for row in rows:
            if any(isinstance(v, dict | list) for v in row.values()):
                raise ValueError("a skill row holds only numbers, text and nulls")
        return rows

    def track_record(self, strategy_id: str) -> StrategyRecord | None:
        return next((s for s in self.strategies if s.strategy_id == strategy_id), None)


class SnapshotUnreadableError(ValueError):
    """The stored snapshot exists but is not one ``model_monitoring`` wrote."""


def snapshot_path(base: str | None = None) -> UPath:
    return UPath(base or data_dir()) / SNAPSHOT_FILE


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def curve(model: str, version: str, champion: bool, metric: str, frame: pl.DataFrame) -> Curve:
    """A rolling-skill frame (``bar_time``, ``<metric>``, ``baseline_<metric>``) as a ``Curve``."""
    frame = frame.tail(MAX_CURVE_POINTS)
    return Curve(
        model=model,
        version=version,
        champion=champion,
        metric=metric,
        t=[at.timestamp() for at in frame["bar_time"]],
        value=[_finite(v) for v in frame[metric]],
        baseline=[_finite(v) for v in frame[f"baseline_{metric}"]],
    )


def table_rows(table: pl.DataFrame) -> list[dict[str, object]]:
    """A frame's rows with times as ISO text and non-finite numbers as null (JSON has neither)."""
    rows = []
    for row in table.iter_rows(named=True):
        rows.append(
            {
                key: value.isoformat()
                if isinstance(value, datetime)
                else _finite(value)
                if isinstance(value, float)
                else value
                for key, value in row.items()
            }
        )
    return rows


def write_snapshot(snapshot: MonitoringSnapshot, base: str | None = None) -> UPath:
    path = snapshot_path(base)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = snapshot.model_dump_json().encode()
    write_atomically(path, lambda sink: sink.write(body))
    return path


def parse_snapshot(body: bytes, where: str) -> MonitoringSnapshot:
    try:
        return MonitoringSnapshot.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise SnapshotUnreadableError(f"{where}: {field}: {first['msg']}") from exc


def read_snapshot(base: str | None = None) -> MonitoringSnapshot | None:
    """The newest snapshot, None before ``model_monitoring`` first ran."""
    path = snapshot_path(base)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_snapshot(body, str(path))
