"""The versions serving in shadow (the ``challenger`` alias), and their promotion on live evidence.

The gate gives a version the ``challenger`` alias when it beats the champion offline and shadow
mode is on; the decision service then scores it beside the champion on every decision. It
replaces the champion only here, once its live decisions beat the champion's on the same
decisions (``model_promotion``), and only if the gate's offline evaluation found it beating the
naive baselines: live evidence adds to the offline judgement, it never replaces it.
"""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from nexus_assets.ml.registry.names import CHALLENGER_ALIAS, CHAMPION_ALIAS


def challenger(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version holding the challenger alias, or None."""
    try:
        return client.get_model_version_by_alias(model_name, CHALLENGER_ALIAS)
    except MlflowException:
        return None


def passed_offline(version: ModelVersion) -> tuple[bool, str]:
    """Whether the gate's offline evaluation of ``version`` beat the naive baselines, and why not."""
    beats = version.tags.get("gate.beats_baselines")
    if beats != "True":
        return (
            False,
            f"v{version.version}'s offline gate did not find it beating the naive baselines ({beats or 'not judged'})",
        )
    return True, version.tags.get("gate.reason", "")


def promote_challenger(client: MlflowClient, model_name: str, version: str, reason: str) -> None:
    """Move the champion alias to the challenger ``version``, clear the challenger alias, and
    record why on the version's tags (``gate.promoted_by: shadow``, ``gate.shadow_reason``)."""
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
    client.set_model_version_tag(model_name, version, "gate.promoted", "True")
    client.set_model_version_tag(model_name, version, "gate.promoted_by", "shadow")
    client.set_model_version_tag(model_name, version, "gate.shadow_reason", reason)
