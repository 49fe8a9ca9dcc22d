"""Logging a model version to MLflow in one shape for every model: pyfunc plus raw artifacts."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel


def log_and_register(
    client: MlflowClient,
    *,
    model_name: str,
    python_model: PythonModel,
    artifacts: dict[str, str],
    signature: ModelSignature,
    input_example: Any,
    requirements: list[str],
    version_tags: dict[str, str],
) -> str:
    """Log the model in the active run, register a new version, tag it; returns the version."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts=artifacts,
        signature=signature,
        input_example=input_example,
        registered_model_name=model_name,
        pip_requirements=requirements,
    )
    version = str(info.registered_model_version)
    for key, value in version_tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    return version
