"""The models panel: the champions serving now and any challengers scored in shadow, with
their ages against ``NEXUS_MAX_MODEL_AGE_DAYS`` (the same figures as ``GET /v1/models``), the
promotion gate's verdict on each, and what ``model_monitoring`` last found: its checks' verdicts,
live skill beside the naive baselines, and feature drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from nexus_assets.monitoring_record import MonitoringSnapshot, SnapshotUnreadableError
from nexus_serving.console.links import Links
from nexus_serving.model_store import ModelInfo, ModelStore
from nexus_serving.stored_asset import StoredAsset, StoredAssetError

GATE_SHOWN = ("promoted", "challenger", "beats_baselines", "promoted_by", "reason", "shadow_reason")
"""The gate's tags the panel shows, in this order; the rest are in MLflow (linked)."""


@dataclass(frozen=True)
class ModelRow:
    name: str
    role: str
    """``champion`` (serves the decisions) or ``challenger`` (scored in shadow beside them)."""
    version: str
    alias: str
    trained_at: datetime
    age_days: float
    stale: bool
    gate: list[tuple[str, str]]
    """The gate's verdict on the version (``GATE_SHOWN`` present in its tags)."""
    link: str | None
    run_link: str | None


@dataclass(frozen=True)
class ModelsView:
    rows: list[ModelRow]
    source: str | None
    loaded_at: datetime | None
    unavailable: str | None
    """Why no models are loaded; None while they are."""
    max_age_days: float
    mlflow_url: str | None
    """The MLflow UI, when the tracking URI is one a browser can open."""
    monitoring: MonitoringSnapshot | None = None
    monitoring_problem: str | None = None
    """Why the stored monitoring snapshot cannot be shown; None when it can (or none exists)."""
    monitoring_link: str | None = None
    checks_link: str | None = None
    run_link: str | None = None


def _row(info: ModelInfo, role: str, now: datetime, max_age_days: float, links: Links) -> ModelRow:
    age = info.age_days(now)
    tags = dict(info.gate)
    gate = [(key, tags[key]) for key in GATE_SHOWN if key in tags]
    return ModelRow(
        info.name,
        role,
        info.version,
        info.alias,
        info.trained_at,
        age,
        age > max_age_days,
        gate,
        links.model_version(info.name, info.version),
        links.mlflow_run(info.run_id),
    )


def models_view(
    store: ModelStore,
    max_age_days: float,
    links: Links,
    monitoring: StoredAsset[MonitoringSnapshot] | None = None,
) -> ModelsView:
    now = datetime.now(UTC)
    snapshot, problem = None, None
    if monitoring is not None:
        try:
            snapshot = monitoring.latest()
        except (StoredAssetError, SnapshotUnreadableError) as exc:
            problem = str(exc)
    watched = {
        "monitoring": snapshot,
        "monitoring_problem": problem,
        "monitoring_link": links.asset("model_monitoring"),
        "checks_link": links.checks("model_monitoring"),
        "run_link": links.run(snapshot.run_id if snapshot else None),
    }
    bundle = store.current
    if bundle is None:
        return ModelsView(
            [], None, None, store.reason or "not loaded yet", max_age_days, links.mlflow, **watched
        )
    rows = [_row(info, "champion", now, max_age_days, links) for _, info in sorted(bundle.info.items())]
    rows += [
        _row(info, "challenger", now, max_age_days, links) for _, info in sorted(bundle.challengers.items())
    ]
    return ModelsView(rows, bundle.source, bundle.loaded_at, None, max_age_days, links.mlflow, **watched)
