"""MLflow tracking and registry: where models are logged, and the champion/challenger gate.

Serving loads ``models:/<name>@champion``; this module is the only place that moves that
alias, and it moves it only for a version that beats the naive baselines and the current
champion on the same out-of-sample data. Every verdict, promoted or not, is written to the
version's tags, so the registry explains itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from nexus_assets.ml.registry.names import (
    ANOMALY_MODEL,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    GATE_TAG_PREFIX,
    PREDICTOR_MODEL,
    VOLATILITY_MODEL,
)
from nexus_assets.paths import nexus_home

__all__ = ["ANOMALY_MODEL", "CHAMPION_ALIAS", "PREDICTOR_MODEL", "VOLATILITY_MODEL"]

EXPERIMENT_NAME = "trade-nexus"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else a SQLite store under ``NEXUS_HOME`` (never ./mlruns)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    database = nexus_home() / "mlflow" / "mlflow.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{database}"


def artifact_root() -> str:
    """Where new experiments keep artifacts: ``MLFLOW_ARTIFACT_ROOT`` or ``NEXUS_HOME/mlflow/artifacts``."""
    configured = os.environ.get("MLFLOW_ARTIFACT_ROOT")
    if configured:
        return configured
    return (nexus_home() / "mlflow" / "artifacts").as_uri()


def configure() -> MlflowClient:
    """Point the MLflow client at our tracking store and registry and return a client."""
    uri = tracking_uri()
    # Progress bars of artifact downloads only clutter run logs.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str = EXPERIMENT_NAME) -> str:
    """The experiment's id, creating it with an explicit artifact location if needed."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    root = artifact_root()
    location = root if "://" in root else Path(root).resolve().as_uri()
    return client.create_experiment(name, artifact_location=f"{location.rstrip('/')}/{name}")


def champion(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version holding the champion alias, or None when there is none yet."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    """The champion's version number as text (MLflow hands back ints or strings by store)."""
    incumbent = champion(client, model_name)
    return None if incumbent is None else str(incumbent.version)


def download_version(client: MlflowClient, version: ModelVersion, destination: Path) -> Path:
    """The version's logged model files (MLmodel, artifacts/...) in ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    # Through the client's own store: a ``models:/`` URI would be resolved against MLflow's
    # process-wide registry, which another thread (the champion watcher) may point elsewhere.
    source = client.get_model_version_download_uri(version.name, str(version.version))
    store = client.tracking_uri
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(destination), tracking_uri=store, registry_uri=store
        )
    )


@dataclass(frozen=True)
class GateMetric:
    """The metric that decides promotion and which direction is better."""

    name: str
    higher_is_better: bool
    min_improvement: float = 0.0
    """A challenger must win by more than this, so noise alone does not churn the champion."""

    def better(self, candidate: float, incumbent: float) -> bool:
        if self.higher_is_better:
            return candidate > incumbent + self.min_improvement
        return candidate < incumbent - self.min_improvement


@dataclass
class Verdict:
    """What the gate decided for one candidate version, and why."""

    model_name: str
    version: str
    promoted: bool
    reason: str
    metric: str
    candidate_score: float
    champion_version: str | None = None
    champion_score: float | None = None
    details: dict[str, float] = field(default_factory=dict)
    """The decision metric's figures (``candidate_<metric>``, ``champion_<metric>``) when judged."""
    decision_metric: str | None = None
    challenger: bool = False
    """It beat the champion offline and serves in shadow (the ``challenger`` alias) until live
    decisions promote it (``challengers.promote_challenger``)."""
    beats_baselines: bool | None = None

    def as_metadata(self) -> dict[str, str | float | bool]:
        data: dict[str, str | float | bool] = {
            "model": self.model_name,
            "version": self.version,
            "promoted": self.promoted,
            "reason": self.reason,
            "gate_metric": self.metric,
            "candidate_score": self.candidate_score,
            "challenger": self.challenger,
        }
        if self.beats_baselines is not None:
            data["beats_baselines"] = self.beats_baselines
        if self.champion_version is not None:
            data["previous_champion_version"] = self.champion_version
        if self.champion_score is not None:
            data["champion_score_on_same_data"] = self.champion_score
        if self.decision_metric is not None:
            data["decision_metric"] = self.decision_metric
            data.update({k: v for k, v in self.details.items()})
        return data


ChampionScorer = Callable[[Path], float]
"""Scores a downloaded champion on the candidate's out-of-sample data (same metric)."""


@dataclass(frozen=True)
class DecisionCheck:
    """The decision metric beside the gate metric, for a model that sizes decisions.

    ``score`` gets the downloaded champion's folder (None when there is no champion) and returns
    the candidate's and the champion's decision metric on the same held-out replay (higher is
    better; NaN where it could not be measured, with ``evidence`` saying why).
    """

    name: str
    score: Callable[[Path | None], tuple[float, float]]
    evidence: Callable[[], str]
    """What the replay covered, for the verdict's reason (called after ``score``)."""


def _decision_verdict(verdict: Verdict, check: DecisionCheck, champion_dir: Path | None) -> None:
    """Record the decision metric; a challenger that lowers it keeps the champion in place."""
    candidate, incumbent = check.score(champion_dir)
    evidence = check.evidence()
    verdict.decision_metric = check.name
    verdict.details[f"candidate_{check.name}"] = candidate
    if champion_dir is not None:
        verdict.details[f"champion_{check.name}"] = incumbent
    if not verdict.promoted or champion_dir is None:
        verdict.reason += f"; {check.name} {candidate:.4g} ({evidence})"
    elif math.isnan(candidate) or math.isnan(incumbent):
        verdict.reason += f"; {evidence}: judged on {verdict.metric} alone"
    elif candidate < incumbent:
        verdict.promoted = False
        verdict.reason = (
            f"kept champion v{verdict.champion_version}: {verdict.metric} {verdict.candidate_score:.6g} beats "
            f"its {verdict.champion_score:.6g}, but the replayed decisions are worse: {check.name} "
            f"{candidate:.4g} vs {incumbent:.4g} ({evidence})"
        )
    else:
        verdict.reason += f"; {check.name} {candidate:.4g} vs {incumbent:.4g} ({evidence})"


def judge_and_promote(
    client: MlflowClient,
    *,
    model_name: str,
    version: str,
    metric: GateMetric,
    candidate_score: float,
    baseline_ok: bool,
    baseline_reason: str,
    score_champion: ChampionScorer,
    workdir: Path,
    decision: DecisionCheck | None = None,
    shadow: bool = False,
) -> Verdict:
    """Move the champion alias to ``version`` only if it beats the baselines and the champion.

    With ``decision``, beating the champion's gate metric is not enough: the candidate's
    replayed decisions must be no worse than the champion's on the same held-out bars. With
    ``shadow``, a version that would replace a champion gets the ``challenger`` alias instead:
    the decision service scores it beside the champion on every decision, and it replaces the
    champion only once its live decisions are better too (``challengers.promote_challenger``).
    A first champion needs no shadow: there is nothing to compare it with.
    """
    incumbent = champion(client, model_name)
    verdict = Verdict(
        model_name, version, False, "", metric.name, candidate_score, beats_baselines=baseline_ok
    )
    champion_dir: Path | None = None
    if not baseline_ok:
        verdict.reason = (
            f"kept the champion: the candidate does not beat the naive baselines ({baseline_reason})"
        )
    elif incumbent is None:
        verdict.promoted = True
        verdict.reason = f"first champion: beats the naive baselines ({baseline_reason})"
    else:
        verdict.champion_version = str(incumbent.version)
        champion_dir = download_version(client, incumbent, workdir / "champion")
        verdict.champion_score = score_champion(champion_dir)
        if metric.better(candidate_score, verdict.champion_score):
            verdict.promoted = True
            verdict.reason = (
                f"beats champion v{incumbent.version} on the same out-of-sample data: "
                f"{metric.name} {candidate_score:.6g} vs {verdict.champion_score:.6g}"
            )
        else:
            verdict.reason = (
                f"kept champion v{incumbent.version}: {metric.name} {candidate_score:.6g} does not beat "
                f"its {verdict.champion_score:.6g} (by more than {metric.min_improvement:g}) "
                "on the same out-of-sample data"
            )
    if decision is not None and baseline_ok:
        _decision_verdict(verdict, decision, champion_dir)
    if verdict.promoted and shadow and incumbent is not None:
        verdict.promoted, verdict.challenger = False, True
        verdict.reason = (
            f"challenger in shadow beside champion v{incumbent.version}: {verdict.reason}; "
            "promoted once its live decisions beat the champion's"
        )
        client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, version)
    if verdict.promoted:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    for key, value in verdict.as_metadata().items():
        client.set_model_version_tag(model_name, version, f"{GATE_TAG_PREFIX}{key}", str(value))
    if mlflow.active_run() is not None:
        mlflow.set_tags({"gate.promoted": str(verdict.promoted), "gate.reason": verdict.reason})
        if verdict.details:
            mlflow.log_metrics({f"gate_{k}": v for k, v in verdict.details.items() if math.isfinite(v)})
    return verdict
