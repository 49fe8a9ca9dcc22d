"""The rows of the report without a policy: raw signals, 1/N, inverse volatility, buy-and-hold."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nexus_assets.ml.portfolio.covariance import shrunk_covariance
from nexus_assets.ml.portfolio.policy import SIDES
from nexus_assets.ml.replay.config import ReplayConfig


def scale_to_target(weights: np.ndarray, covariance: np.ndarray, config: ReplayConfig) -> np.ndarray:
    """Scaled down to the volatility target (never up) and to the gross limit."""
    annual = math.sqrt(max(float(weights @ covariance @ weights), 0.0) * 252)
    scale = min(1.0, config.target_volatility / annual) if annual > 0 else 0.0
    return weights * min(scale, config.max_gross / max(np.abs(weights).sum(), 1e-12))


def baseline_targets(
    row: int,
    step: int,
    priced: np.ndarray,
    signals_at: list[tuple[dict[str, Any], ...]],
    realized: np.ndarray,
    window: np.ndarray,
    buy_and_hold: np.ndarray,
    config: ReplayConfig,
) -> dict[str, np.ndarray]:
    """The rows without a policy: raw signals, 1/N, inverse volatility, buy-and-hold."""
    n = max(int(priced.sum()), 1)
    net = np.array(
        [np.mean([SIDES[s["side"]] for s in standing]) if standing else 0.0 for standing in signals_at]
    )
    targets = {
        "raw": np.where(priced, net / n, 0.0),
        "equal_weight": np.where(priced, 1.0 / n, 0.0),
    }
    vol = realized[row]
    usable = priced & np.isfinite(vol) & (vol > 0)
    inverse = np.zeros(len(priced))
    if usable.any():
        inverse[usable] = 1.0 / vol[usable]
        covariance = shrunk_covariance(window[:, usable], vol[usable])
        inverse[usable] = scale_to_target(inverse[usable] / inverse[usable].sum(), covariance, config)
    targets["inverse_volatility"] = inverse
    if step == 0:
        targets["buy_and_hold"] = np.where(priced, 1.0 / n, 0.0)
    else:
        targets["buy_and_hold"] = np.where(priced, buy_and_hold, 0.0)
    return targets
