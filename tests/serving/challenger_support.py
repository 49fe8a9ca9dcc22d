"""Challengers for the shadow tests: new versions of the session champions with changed artifacts.

Each is a private copy of the session registry's database with a version registered from an
edited copy of a champion's files: a predictor whose output is doubled (an ONNX ``Mul``), a
volatility model whose constant moves, so the challengers' numbers differ from the champions'.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from mlflow import MlflowClient
from onnx import helper, numpy_helper

from nexus_assets.ml import registry
from nexus_assets.ml.registry.names import CHALLENGER_ALIAS
from nexus_assets.ml.registry.pyfunc import predictor_artifact_path, volatility_artifact_file

PREDICTOR_SCALE = 2.0
VOLATILITY_SHIFT = 0.4
"""Added to the log-variance constant: the challenger's volatility is exp(0.2) times the champion's."""


def copy_registry(trained_registry: str, folder: Path) -> str:
    """A private copy of the session registry's database (artifacts are shared, read only)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(trained_registry.removeprefix("sqlite:///")), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def _client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion_files(client: MlflowClient, name: str, folder: Path) -> Path:
    champion = client.get_model_version_by_alias(name, registry.CHAMPION_ALIAS)
    return registry.download_version(client, champion, folder)


def _register(client: MlflowClient, name: str, files: Path) -> str:
    """A new version of ``name`` from ``files``, holding the challenger alias."""
    version = client.create_model_version(name, source=str(files))
    client.set_registered_model_alias(name, CHALLENGER_ALIAS, str(version.version))
    return str(version.version)


def scaled_predictor(uri: str, folder: Path, scale: float = PREDICTOR_SCALE) -> str:
    """Register the champion predictor with its output multiplied by ``scale`` as the challenger."""
    client = _client(uri)
    files = _champion_files(client, registry.PREDICTOR_MODEL, folder)
    path = predictor_artifact_path(files)
    model = onnx.load(str(path))
    graph = model.graph
    output = graph.output[0]
    raw = f"{output.name}_unscaled"
    for node in graph.node:
        node.output[:] = [raw if name == output.name else name for name in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), "challenger_scale"))
    graph.node.append(helper.make_node("Mul", [raw, "challenger_scale"], [output.name]))
    onnx.save(model, str(path))
    return _register(client, registry.PREDICTOR_MODEL, files)


def shifted_volatility(uri: str, folder: Path, shift: float = VOLATILITY_SHIFT) -> str:
    """Register the champion volatility model with ``shift`` added to its constant as the challenger."""
    client = _client(uri)
    files = _champion_files(client, registry.VOLATILITY_MODEL, folder)
    path = volatility_artifact_file(files)
    data = json.loads(path.read_text())
    data["coefficients"]["const"] += shift
    path.write_text(json.dumps(data))
    return _register(client, registry.VOLATILITY_MODEL, files)


def same_anomaly(uri: str, folder: Path) -> str:
    """Register the champion anomaly detector's own files as the challenger: it must score each
    decision exactly as the champion did."""
    client = _client(uri)
    return _register(client, registry.ANOMALY_MODEL, _champion_files(client, registry.ANOMALY_MODEL, folder))
