"""The models panel: the champions serving now and any challengers scored in shadow, with
their ages against ``NEXUS_MAX_MODEL_AGE_DAYS`` (the same figures as ``GET /v1/models``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from nexus_serving.model_store import ModelInfo, ModelStore


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


def _row(info: ModelInfo, role: str, now: datetime, max_age_days: float) -> ModelRow:
    age = info.age_days(now)
    return ModelRow(info.name, role, info.version, info.alias, info.trained_at, age, age > max_age_days)


def models_view(store: ModelStore, max_age_days: float, tracking_uri: str | None) -> ModelsView:
    now = datetime.now(UTC)
    mlflow_url = tracking_uri if tracking_uri and tracking_uri.startswith(("http://", "https://")) else None
    bundle = store.current
    if bundle is None:
        return ModelsView([], None, None, store.reason or "not loaded yet", max_age_days, mlflow_url)
    rows = [_row(info, "champion", now, max_age_days) for _, info in sorted(bundle.info.items())]
    rows += [_row(info, "challenger", now, max_age_days) for _, info in sorted(bundle.challengers.items())]
    return ModelsView(rows, bundle.source, bundle.loaded_at, None, max_age_days, mlflow_url)
