"""Each Lona strategy reviewed by Grok and by rules; the verdict scales or blocks its signals."""

import dagster as dg
import polars as pl

from nexus_assets.resources.grok import GrokResource


def verdict_table(reviews: pl.DataFrame) -> str:
    """One Markdown row per strategy, unwrapped, so the reason for each verdict reads in the UI."""
    columns = ("strategy_id", "name", "verdict", "strength_scale", "reviewer", "fallback_reason", "rationale")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in reviews.select(columns).iter_rows():
        cells = ["" if v is None else str(v).replace("|", "/").replace("\n", " ")[:160] for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dg.asset(
    group_name="lona",
    kinds={"polars", "parquet"},
    owners=["team:trading"],
    code_version="1",
    # A new strategy is reviewed before the allocation that follows trades its signals.
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Per strategy: a verdict (approve, caution, block) on its Backtrader code and backtest statistics: "
        "overfitting (few trades, implausible Sharpe or win rate), look-ahead patterns, leverage, missing "
        "stops. Rules (statistics thresholds and an AST scan) always run and set the floor; Grok, when "
        "configured, can only make the verdict stricter. `strength_scale` (1, 0.5, 0) multiplies the "
        "strategy's signal strength in `portfolio_allocation`, with the reason in the decision."
    ),
)
def strategy_reviews(
    context: dg.AssetExecutionContext, grok: GrokResource, lona_strategies: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.asset_metadata import frame_metadata
    from nexus_assets.llm.review import StrategyReviewer
    from nexus_assets.ml.review.prompt import REVIEW_PROMPT_VERSION
    from nexus_assets.ml.review.schema import ReviewAnswer

    with grok.open_session(
        context,
        prompt_version=REVIEW_PROMPT_VERSION,
        schema_name="strategy_review",
        schema=ReviewAnswer.model_json_schema(),
    ) as session:
        reviewer = StrategyReviewer(
            session.caller, session.cache, model=session.model, offline_reason=session.offline_reason
        )
        reviews = reviewer.review(lona_strategies)
    verdicts = dict(reviews.group_by("verdict").len().sort("verdict").iter_rows())
    context.log.info(f"reviewed {reviews.height} strategies: {verdicts}")
    return dg.Output(
        reviews,
        metadata=frame_metadata(
            reviews.drop("findings"),
            verdicts=verdicts or {"none": 0},
            model=session.model,
            prompt_version=REVIEW_PROMPT_VERSION,
            llm_budget=session.budget.summary(),
            tracing=session.tracing.describe(),
            reviews=dg.MetadataValue.md(verdict_table(reviews) if reviews.height else "(no strategies)"),
        ),
    )
