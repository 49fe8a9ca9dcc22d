"""`model_monitoring`: the served predictions scored against what happened, per model version.

Daily after `market_bars` (by its automation condition): the decision service's audit log gives
every decision's predictions and the versions that made them; the bars give what followed
(`ml.monitoring`). Three checks judge the champions: live skill against their naive baselines
(predictor, volatility model) and feature drift against the predictor's training window. A check
warns, then fails past its margin; `model_decay_sensor` retrains on a failure.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.asset_metadata import frame_metadata, markdown_table
from nexus_assets.resources.decision_log import DecisionLogResource

if TYPE_CHECKING:
    from nexus_assets.ml.monitoring.verdicts import Verdict

PREDICTOR_CHECK = "predictor_live_skill"
VOLATILITY_CHECK = "volatility_live_skill"
DRIFT_CHECK = "feature_drift"
DECAY_CHECKS = (PREDICTOR_CHECK, VOLATILITY_CHECK, DRIFT_CHECK)
SKILL_SCHEMA = {
    "model": pl.String,
    "version": pl.String,
    "champion": pl.Boolean,
    "n": pl.Int64,
    "ic": pl.Float64,
    "hit_rate": pl.Float64,
    "baseline_ic": pl.Float64,
    "qlike": pl.Float64,
    "baseline_qlike": pl.Float64,
    "edge": pl.Float64,
    "first_bar": pl.Datetime("us", "UTC"),
    "last_bar": pl.Datetime("us", "UTC"),
}


class MonitoringConfig(dg.Config):
    days: int = Field(default=365, ge=1, le=3660, description="Decisions of the last this many days.")
    window_bars: int = Field(
        default=63,
        ge=5,
        le=1260,
        description="Newest bars a champion is judged on, and the rolling IC's span.",
    )
    min_predictions: int = Field(default=30, ge=3, description="Fewer scored predictions: no verdict.")
    ic_warn_margin: float = Field(default=0.0, ge=0, description="Warn when live IC < momentum's - this.")
    ic_fail_margin: float = Field(default=0.03, ge=0, description="Fail when live IC < momentum's - this.")
    qlike_warn_margin: float = Field(default=0.0, ge=0, description="Warn when QLIKE > EWMA's + this.")
    qlike_fail_margin: float = Field(default=0.05, ge=0, description="Fail when QLIKE > EWMA's + this.")
    psi_warn: float = Field(default=0.10, gt=0)
    psi_fail: float = Field(default=0.25, gt=0)
    drift_reference_bars: int = Field(
        default=252, ge=21, description="Training bars drift is measured against."
    )
    drift_current_bars: int = Field(default=63, ge=5, description="Newest bars measured for drift.")


def _check(name: str, verdict: "Verdict", **metadata: object) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.WARN if verdict.level == "warn" else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        check_name=name,
        passed=verdict.passed,
        severity=severity,
        metadata={"level": verdict.level, "reason": verdict.reason, **metadata},
    )


@dg.asset(
    group_name="monitoring",
    kinds={"polars", "mlflow"},
    owners=["team:ml"],
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec(
            PREDICTOR_CHECK,
            asset="model_monitoring",
            description="Champion predictor's live IC against momentum's on the same decisions.",
        ),
        dg.AssetCheckSpec(
            VOLATILITY_CHECK,
            asset="model_monitoring",
            description="Champion volatility model's live QLIKE against EWMA's on the same decisions.",
        ),
        dg.AssetCheckSpec(
            DRIFT_CHECK,
            asset="model_monitoring",
            description="PSI of the newest features against the predictor's training window.",
        ),
    ],
    description=(
        "Each served and allocated prediction joined with the next bar: per model version the live IC and hit rate "
        "(beside momentum's on the same rows), QLIKE (beside EWMA's), the confidence's calibration, and "
        "per-feature drift (PSI) against the champion predictor's training window, with the rolling IC "
        "and drift plots. Its checks warn, then fail, when a champion falls below its naive baseline or "
        "a feature drifts; thresholds in the run config."
    ),
)
def model_monitoring(
    context: dg.AssetExecutionContext,
    config: MonitoringConfig,
    decision_log: DecisionLogResource,
    market_bars: pl.DataFrame,
    features: pl.DataFrame,
) -> Iterator[dg.Output[pl.DataFrame] | dg.AssetCheckResult]:
    from nexus_assets import monitoring_record as record
    from nexus_assets.lona.wire import parse_time
    from nexus_assets.ml import registry
    from nexus_assets.ml.features import FEATURE_COLUMNS
    from nexus_assets.ml.monitoring import (
        bar_outcomes,
        calibration,
        feature_drift,
        join_outcomes,
        predictor_skill,
        rolling_ic,
        rolling_qlike,
        strategy_track_record,
        volatility_skill,
    )
    from nexus_assets.ml.monitoring.skill import recent, skill_rows
    from nexus_assets.ml.monitoring.verdicts import (
        Thresholds,
        drift_verdict,
        predictor_verdict,
        volatility_verdict,
    )
    from nexus_assets.ml.plots import drift_bars, figure_png, live_ic, png_markdown

    limits = Thresholds(
        min_predictions=config.min_predictions,
        ic_warn_margin=config.ic_warn_margin,
        ic_fail_margin=config.ic_fail_margin,
        qlike_warn_margin=config.qlike_warn_margin,
        qlike_fail_margin=config.qlike_fail_margin,
        psi_warn=config.psi_warn,
        psi_fail=config.psi_fail,
    )
    client = registry.configure()
    predictor_champion = registry.champion(client, registry.PREDICTOR_MODEL)
    champions = {
        "predictor": None if predictor_champion is None else str(predictor_champion.version),
        "volatility": registry.champion_version(client, registry.VOLATILITY_MODEL),
    }

    from datetime import UTC, datetime, timedelta

    from nexus_assets.allocation_history import allocated_predictions

    served = decision_log.predictions(config.days)
    allocated = allocated_predictions(since=datetime.now(UTC) - timedelta(days=config.days))
    predictions = pl.concat([served, allocated])
    outcomes = bar_outcomes(market_bars, features)
    # One prediction per version, symbol and bar: a served decision and the allocation on the same
    # bar are the same model output, counted once (the served one is kept).
    placed = join_outcomes(predictions, outcomes)
    joined = placed.unique(
        subset=["symbol", "bar_time", "predictor_version", "volatility_version"],
        keep="first",
        maintain_order=True,
    )
    predictor = predictor_skill(joined)
    volatility = volatility_skill(joined)
    table = pl.DataFrame(
        [
            {**row, "champion": row["version"] == champions[row["model"]]}
            for row in skill_rows(predictor, volatility)
        ],
        schema=SKILL_SCHEMA,
    )

    drift = []
    trained_until = None if predictor_champion is None else predictor_champion.tags.get("trained_until")
    if trained_until:
        drift = feature_drift(
            features,
            FEATURE_COLUMNS,
            trained_until=parse_time(trained_until),
            reference_bars=config.drift_reference_bars,
            current_bars=config.drift_current_bars,
        )
    # The champions are judged on the newest window only: a year of good days must not hide a bad month.
    latest = recent(joined, config.window_bars)
    champion_predictor = next(
        (s for s in predictor_skill(latest) if s.version == champions["predictor"]), None
    )
    champion_volatility = next(
        (s for s in volatility_skill(latest) if s.version == champions["volatility"]), None
    )
    verdicts = {
        PREDICTOR_CHECK: predictor_verdict(champion_predictor, limits),
        VOLATILITY_CHECK: volatility_verdict(champion_volatility, limits),
        DRIFT_CHECK: drift_verdict(drift, limits),
    }

    metadata: dict = {
        "decisions": served.height,
        "allocated_predictions": allocated.height,
        "scored": joined.height,
        "pending": predictions.height - joined.height,
        "champion_predictor": champions["predictor"] or "none",
        "champion_volatility": champions["volatility"] or "none",
        "skill": dg.MetadataValue.md(markdown_table(table) if table.height else "no scored predictions yet"),
    }
    confidence = calibration(joined)
    if confidence is not None:
        metadata["confidence_brier"] = confidence.brier
        metadata["confidence_calibration_error"] = confidence.expected_calibration_error
    # Every decision on a strategy's signal counts for it, before the per-bar de-duplication.
    track_record = strategy_track_record(served, placed)
    if track_record.height:
        metadata["strategy_track_record"] = dg.MetadataValue.md(markdown_table(track_record))
    curves, kept_curves = {}, []
    for skill in predictor:
        curve = rolling_ic(joined, skill.version, config.window_bars)
        if curve.height:
            curves[skill.version] = (
                curve["bar_time"].to_list(),
                curve["ic"].to_numpy(),
                curve["baseline_ic"].to_numpy(),
            )
            is_champion = skill.version == champions["predictor"]
            kept_curves.append(record.curve("predictor", skill.version, is_champion, "ic", curve))
    for skill in volatility:
        curve = rolling_qlike(joined, skill.version, config.window_bars)
        if curve.height:
            is_champion = skill.version == champions["volatility"]
            kept_curves.append(record.curve("volatility", skill.version, is_champion, "qlike", curve))
    if curves:
        png = figure_png(live_ic(curves, f"live IC, trailing {config.window_bars} bars"))
        metadata["live_ic_plot"] = dg.MetadataValue.md(png_markdown(png, "live IC"))
    if drift:
        psi = {d.feature: d.psi for d in drift}
        metadata["max_psi"] = max(psi.values())
        png = figure_png(drift_bars(psi, config.psi_warn, config.psi_fail, "feature drift"))
        metadata["drift_plot"] = dg.MetadataValue.md(png_markdown(png, "feature drift"))
    for name, verdict in verdicts.items():
        (context.log.warning if not verdict.passed else context.log.info)(
            f"{name}: {verdict.level}: {verdict.reason}"
        )

    snapshot = record.MonitoringSnapshot(
        evaluated_at=datetime.now(UTC),
        run_id=context.run_id,
        window_bars=config.window_bars,
        champions=champions,
        checks=[record.CheckVerdict(name=n, level=v.level, reason=v.reason) for n, v in verdicts.items()],
        skill=record.table_rows(table),
        curves=kept_curves,
        drift=[record.FeatureDriftRow(feature=d.feature, psi=d.psi) for d in drift],
        psi_warn=config.psi_warn,
        psi_fail=config.psi_fail,
        strategies=track_record.to_dicts(),
    )
    metadata["snapshot"] = str(record.write_snapshot(snapshot))
    yield dg.Output(table, metadata=frame_metadata(table, **metadata))
    yield _check(PREDICTOR_CHECK, verdicts[PREDICTOR_CHECK], version=champions["predictor"] or "none")
    yield _check(VOLATILITY_CHECK, verdicts[VOLATILITY_CHECK], version=champions["volatility"] or "none")
    yield _check(DRIFT_CHECK, verdicts[DRIFT_CHECK], features=len(drift))
