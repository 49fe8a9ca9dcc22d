"""Champion against challenger on the same live decisions, from the decisions scored in shadow.

Each shadow pair is one decision as the champions made it and as the shadow set (the champions
with each challenger in its model's place) would have; joined with what followed, the two are
scored with the same measure on the same rows: IC for the predictor, QLIKE for the volatility
model. The anomaly detector has no live measure of skill, so it is never compared here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from nexus_assets.ml.monitoring.outcomes import join_outcomes
from nexus_assets.ml.predictor.evaluation import prediction_metrics
from nexus_assets.ml.volatility.model import qlike


@dataclass(frozen=True)
class ShadowComparison:
    model: str
    """``predictor`` or ``volatility``."""
    champion_version: str
    challenger_version: str
    n: int
    metric: str
    champion_score: float
    challenger_score: float
    higher_is_better: bool

    def challenger_wins(self, margin: float = 0.0) -> bool:
        if self.higher_is_better:
            return self.challenger_score > self.champion_score + margin
        return self.challenger_score < self.champion_score - margin


def compare_in_shadow(pairs: pl.DataFrame, outcomes: pl.DataFrame) -> list[ShadowComparison]:
    """One comparison per (model, champion version, challenger version) seen in shadow."""
    joined = join_outcomes(pairs.filter(pl.col("shadow_error").is_null()), outcomes)
    out = []
    predictor = joined.filter(
        pl.col("shadow_predicted_return").is_not_null()
        & (pl.col("shadow_predictor_version") != pl.col("predictor_version"))
    )
    for (champion, challenger), rows in predictor.group_by(
        "predictor_version", "shadow_predictor_version", maintain_order=True
    ):
        if rows.height < 3:
            continue
        realized = rows["next_return"].to_numpy()
        out.append(
            ShadowComparison(
                "predictor",
                str(champion),
                str(challenger),
                rows.height,
                "ic",
                prediction_metrics(rows["predicted_return"].to_numpy(), realized)["ic"],
                prediction_metrics(rows["shadow_predicted_return"].to_numpy(), realized)["ic"],
                True,
            )
        )
    volatility = joined.filter(
        (pl.col("shadow_volatility_forecast") > 0)
        & (pl.col("volatility_forecast") > 0)
        & (pl.col("shadow_volatility_version") != pl.col("volatility_version"))
    )
    for (champion, challenger), rows in volatility.group_by(
        "volatility_version", "shadow_volatility_version", maintain_order=True
    ):
        if rows.height < 3:
            continue
        squared = rows["next_return"].to_numpy() ** 2
        out.append(
            ShadowComparison(
                "volatility",
                str(champion),
                str(challenger),
                rows.height,
                "qlike",
                qlike(rows["volatility_forecast"].to_numpy() ** 2, squared),
                qlike(rows["shadow_volatility_forecast"].to_numpy() ** 2, squared),
                False,
            )
        )
    return out
