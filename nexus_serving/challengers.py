"""Challengers: model versions holding the ``challenger`` alias, scored in shadow beside the champions.

A model without a challenger is normal, and one whose challenger cannot be downloaded or
opened is served by its champion as before: a challenger never stands in the way of serving.
The shadow set is the champions with each challenger in its model's place, so the shadow view
of a decision differs from the champion's only where a challenger differs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from nexus_assets.ml import registry
from nexus_assets.ml.anomaly import AnomalyDetector
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor
from nexus_assets.ml.registry.champions import MODEL_NAMES, Champions
from nexus_assets.ml.registry.names import CHALLENGER_ALIAS
from nexus_assets.ml.registry.pyfunc import (
    anomaly_artifact_dir,
    predictor_artifact_path,
    volatility_artifact_file,
)
from nexus_assets.ml.volatility.model import VolatilityModel

logger = logging.getLogger(__name__)

CHALLENGER_FOLDER = "challenger"
"""Where a bundle folder keeps its challengers, one sub-folder per model (beside the champions')."""


def challenger_versions(client: MlflowClient) -> dict[str, str]:
    """The version each model's ``challenger`` alias names now; models without one are left out."""
    versions = {}
    for name in MODEL_NAMES:
        try:
            version = client.get_model_version_by_alias(name, CHALLENGER_ALIAS)
        except MlflowException:  # no such alias (or model): no challenger
            continue
        versions[name] = str(version.version)
    return versions


def download_challengers(client: MlflowClient, versions: dict[str, str], folder: Path) -> dict[str, Path]:
    """Each challenger's files under ``folder/challenger/<model>``."""
    folders = {}
    for name, version in versions.items():
        model_version = client.get_model_version(name, version)
        folders[name] = registry.download_version(client, model_version, folder / CHALLENGER_FOLDER / name)
    return folders


def challenger_folders(folder: Path, names: list[str]) -> dict[str, Path]:
    """Where a cached bundle keeps the challengers of ``names``."""
    return {name: folder / CHALLENGER_FOLDER / name for name in names}


def shadow_set(champions: Champions, folders: dict[str, Path], versions: dict[str, str]) -> Champions:
    """The champions with each challenger (opened from ``folders``) in its model's place.

    Each challenger is opened from the same artifact files as a champion (``open_champions``'
    readers); the champions' own objects stay for the models without one.
    """
    models = {
        registry.PREDICTOR_MODEL: champions.predictor,
        registry.VOLATILITY_MODEL: champions.volatility,
        registry.ANOMALY_MODEL: champions.anomaly,
    }
    for name, folder in folders.items():
        models[name] = _OPENERS[name](folder)
    return Champions(
        predictor=models[registry.PREDICTOR_MODEL],
        volatility=models[registry.VOLATILITY_MODEL],
        anomaly=models[registry.ANOMALY_MODEL],
        versions={**champions.versions, **versions},
    )


_OPENERS: dict[str, Callable[[Path], Any]] = {
    registry.PREDICTOR_MODEL: lambda folder: OnnxPredictor(predictor_artifact_path(folder)),
    registry.VOLATILITY_MODEL: lambda folder: VolatilityModel.from_dict(
        json.loads(volatility_artifact_file(folder).read_text())
    ),
    registry.ANOMALY_MODEL: lambda folder: AnomalyDetector.load(anomaly_artifact_dir(folder)),
}
"""How each model opens from its version folder: as ``open_champions`` opens a champion."""
