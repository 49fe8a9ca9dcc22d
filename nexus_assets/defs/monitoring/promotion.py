"""`model_promotion`: a challenger replaces its champion on live shadow evidence plus its offline gate.

After each `model_monitoring`: for the predictor and the volatility model, the version holding
the `challenger` alias is compared with the champion on the decisions it was scored on in
shadow (`ml.monitoring.shadow`). It is promoted when it has at least `min_shadow_decisions`
scored decisions, beats the champion on them (IC higher, QLIKE lower, by the margin), and the
gate's offline evaluation found it beating the naive baselines. Every verdict, promoted or not,
is a row with its reason.
"""

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.asset_metadata import frame_metadata, markdown_table
from nexus_assets.resources.decision_log import DecisionLogResource

PROMOTION_SCHEMA = {
    "model": pl.String,
    "champion_version": pl.String,
    "challenger_version": pl.String,
    "shadow_decisions": pl.Int64,
    "metric": pl.String,
    "champion_score": pl.Float64,
    "challenger_score": pl.Float64,
    "promoted": pl.Boolean,
    "reason": pl.String,
}


class PromotionConfig(dg.Config):
    days: int = Field(default=365, ge=1, le=3660, description="Shadow decisions of the last this many days.")
    min_shadow_decisions: int = Field(
        default=100, ge=3, description="Fewer scored shadow decisions: no promotion."
    )
    ic_margin: float = Field(
        default=0.0, ge=0, description="The challenger's live IC must beat the champion's by this."
    )
    qlike_margin: float = Field(default=0.0, ge=0, description="Its live QLIKE must be lower by this.")


@dg.asset(
    group_name="monitoring",
    kinds={"polars", "mlflow"},
    owners=["team:ml"],
    code_version="1",
    deps=["model_monitoring"],
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Promotes a `challenger` to `champion` when, on the same live decisions scored in shadow, it "
        "beats the champion (IC for the predictor, QLIKE for the volatility model) over at least "
        "`min_shadow_decisions` decisions and the gate found it beating the naive baselines offline. "
        "One row per model with a challenger: both scores, the decisions compared, and why."
    ),
)
def model_promotion(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    decision_log: DecisionLogResource,
    market_bars: pl.DataFrame,
    features: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.ml import registry
    from nexus_assets.ml.monitoring import bar_outcomes
    from nexus_assets.ml.monitoring.shadow import compare_in_shadow
    from nexus_assets.ml.registry.challengers import challenger, passed_offline, promote_challenger

    client = registry.configure()
    pairs = decision_log.shadow_pairs(config.days)
    comparisons = compare_in_shadow(pairs, bar_outcomes(market_bars, features)) if pairs.height else []
    margins = {"predictor": config.ic_margin, "volatility": config.qlike_margin}
    rows = []
    for model, name in (("predictor", registry.PREDICTOR_MODEL), ("volatility", registry.VOLATILITY_MODEL)):
        candidate = challenger(client, name)
        if candidate is None:
            continue
        champion = registry.champion_version(client, name)
        version = str(candidate.version)
        found = next(
            (
                c
                for c in comparisons
                if c.model == model and c.challenger_version == version and c.champion_version == champion
            ),
            None,
        )
        row = {"model": model, "champion_version": champion, "challenger_version": version, "promoted": False}
        if found is None or found.n < config.min_shadow_decisions:
            n = 0 if found is None else found.n
            row |= {
                "shadow_decisions": n,
                "reason": f"{n} scored shadow decisions, {config.min_shadow_decisions} needed",
            }
        else:
            row |= {
                "shadow_decisions": found.n,
                "metric": found.metric,
                "champion_score": found.champion_score,
                "challenger_score": found.challenger_score,
            }
            offline, why = passed_offline(candidate)
            live = (
                f"live {found.metric} {found.challenger_score:.4f} vs the champion's {found.champion_score:.4f} "
                f"on the same {found.n} decisions"
            )
            if not found.challenger_wins(margins[model]):
                row["reason"] = f"kept champion v{champion}: {live}"
            elif not offline:
                row["reason"] = f"kept champion v{champion}: {live}, but {why}"
            else:
                reason = f"promoted on shadow evidence: {live}; offline: {why}"
                promote_challenger(client, name, version, reason)
                row |= {"promoted": True, "reason": reason}
        context.log.info(f"{name}: {row['reason']}")
        rows.append(row)
    table = pl.DataFrame(rows, schema=PROMOTION_SCHEMA)
    return dg.Output(
        table,
        metadata=frame_metadata(
            table,
            shadow_decisions=pairs.height,
            promoted=int(table["promoted"].sum()) if table.height else 0,
            verdicts=dg.MetadataValue.md(markdown_table(table) if table.height else "no challenger"),
        ),
    )
