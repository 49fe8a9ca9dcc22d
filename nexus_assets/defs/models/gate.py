"""The champion gate's verdict as an asset check, so the UI shows why a model was or was not promoted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from nexus_assets.ml.registry.tracking import Verdict

GATE_CHECK = "champion_gate"


def gate_check_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        GATE_CHECK,
        asset=asset,
        description=(
            "Passes when this run's model version became the champion; warns (never blocks) when the "
            "champion was kept, with the reason and both scores on the same out-of-sample data."
        ),
    )


def gate_check_result(verdict: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=GATE_CHECK,
        passed=verdict.promoted,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=verdict.as_metadata(),
    )


def verdict_metadata(verdict: Verdict, run_id: str) -> dict[str, str | bool]:
    """What every model asset reports about its version and the gate's decision."""
    return {
        "model_version": verdict.version,
        "promoted": verdict.promoted,
        "challenger": verdict.challenger,
        "verdict": verdict.reason,
        "mlflow_run_id": run_id,
    }
