"""The three champion models, loaded from the registry in their fast inference forms.

Batch allocation uses this today; it reads the same artifact files the decision service
serves (ONNX predictor, coefficient JSON, flat-array forest), never the pyfunc wrappers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from nexus_assets.ml import registry
from nexus_assets.ml.anomaly import AnomalyDetector
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor
from nexus_assets.ml.registry.pyfunc import (
    anomaly_artifact_dir,
    predictor_artifact_path,
    volatility_artifact_file,
)
from nexus_assets.ml.volatility.model import VolatilityModel

MODEL_NAMES: tuple[str, ...] = (registry.PREDICTOR_MODEL, registry.VOLATILITY_MODEL, registry.ANOMALY_MODEL)


class NoChampionError(RuntimeError):
    """A model has no champion yet: train it (and let it pass the gate) first."""


@dataclass(frozen=True)
class Champions:
    predictor: OnnxPredictor
    volatility: VolatilityModel
    anomaly: AnomalyDetector
    versions: dict[str, str]

    @property
    def window(self) -> int:
        return self.predictor.window


def open_champions(folders: dict[str, Path], versions: dict[str, str]) -> Champions:
    """Open the three models from their downloaded (or cached) version folders."""
    volatility_file = volatility_artifact_file(folders[registry.VOLATILITY_MODEL])
    return Champions(
        predictor=OnnxPredictor(predictor_artifact_path(folders[registry.PREDICTOR_MODEL])),
        volatility=VolatilityModel.from_dict(json.loads(volatility_file.read_text())),
        anomaly=AnomalyDetector.load(anomaly_artifact_dir(folders[registry.ANOMALY_MODEL])),
        versions=versions,
    )


def load_champions(client: MlflowClient, workdir: Path) -> Champions:
    """Download and open every champion; raises NoChampionError naming what is missing."""
    folders: dict[str, Path] = {}
    versions: dict[str, str] = {}
    for name in MODEL_NAMES:
        version = registry.champion(client, name)
        if version is None:
            raise NoChampionError(f"{name}: no version holds the '{registry.CHAMPION_ALIAS}' alias yet")
        folders[name] = registry.download_version(client, version, workdir / name)
        versions[name] = str(version.version)
    return open_champions(folders, versions)
