"""MLflow pyfunc wrappers, so generic MLflow tooling (``mlflow models serve``, batch scoring)
can load each model. The decision service does not use them: it reads the same artifact
files directly, which is several times faster than going through pyfunc.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
from mlflow.pyfunc import PythonModel, PythonModelContext

from nexus_assets.ml.anomaly import AnomalyDetector
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor
from nexus_assets.ml.volatility.model import VolatilityModel

PREDICTOR_ARTIFACT = "predictor_onnx"
ANOMALY_ARTIFACT = "anomaly_detector"
VOLATILITY_ARTIFACT = "volatility_model"


# MLflow warns at class creation that predict lacks type hints it can validate; the logged
# signatures document the inputs instead, so the warning says nothing useful here.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method", category=UserWarning)


class OnnxReturnPredictor(PythonModel):
    """Feature windows [batch, window, features] (float32) -> next-bar log returns [batch]."""

    def load_context(self, context: PythonModelContext) -> None:
        self.predictor = OnnxPredictor(Path(context.artifacts[PREDICTOR_ARTIFACT]))

    # MLflow derives a schema from type hints on predict and rejects these; the logged
    # signature (a float32 tensor) documents the input instead.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        return self.predictor.predict(np.asarray(model_input, dtype=np.float32))


def predictor_artifact_path(model_dir: Path) -> Path:
    """The ONNX file inside a downloaded predictor version."""
    matches = sorted(model_dir.rglob("*.onnx"))
    if not matches:
        raise FileNotFoundError(f"{model_dir}: no ONNX artifact in this model version")
    return matches[0]


class AnomalyScorer(PythonModel):
    """Feature rows (DataFrame with the detector's feature columns) -> anomaly scores in [0, 1]."""

    def load_context(self, context: PythonModelContext) -> None:
        self.detector = AnomalyDetector.load(Path(context.artifacts[ANOMALY_ARTIFACT]))

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        return self.detector.score_frame(pl.from_pandas(model_input)).to_numpy()


def anomaly_artifact_dir(model_dir: Path) -> Path:
    """The saved detector folder inside a downloaded anomaly version."""
    matches = sorted(p.parent for p in model_dir.rglob("anomaly.json"))
    if not matches:
        raise FileNotFoundError(f"{model_dir}: no anomaly detector in this model version")
    return matches[0]


class VolatilityForecaster(PythonModel):
    """Model inputs (DataFrame with the forecaster's input columns) -> next-bar variance forecasts."""

    def load_context(self, context: PythonModelContext) -> None:
        data = json.loads(Path(context.artifacts[VOLATILITY_ARTIFACT]).read_text())
        self.model = VolatilityModel.from_dict(data)

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        return self.model.forecast_variance(pl.from_pandas(model_input))


def volatility_artifact_file(model_dir: Path) -> Path:
    """The coefficient file inside a downloaded volatility version."""
    matches = sorted(model_dir.rglob("volatility_model.json"))
    if not matches:
        raise FileNotFoundError(f"{model_dir}: no volatility model in this model version")
    return matches[0]
