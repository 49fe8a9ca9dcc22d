"""Load (or compile, the first time) every numba kernel before the first request needs it.

A kernel compiles on its first call: about a second each without the on-disk cache. A
service calls ``warm_up`` at start-up so that no decision pays for it.
"""

from __future__ import annotations

import numpy as np

from nexus_assets.ml.anomaly.bar_window import bar_window
from nexus_assets.ml.anomaly.forest_kernel import NODE, WIDE_NODE, isolation_scores
from nexus_assets.ml.anomaly.rule_config import RuleConfig
from nexus_assets.ml.bars import values_clean
from nexus_assets.ml.features import LOOKBACK_BARS, feature_matrix_values
from nexus_assets.ml.volatility.kernel import N_REGRESSORS, design_rows, forecast_rows
from nexus_assets.ml.windows import newest_window_sums


def warm_up() -> None:
    """Run each kernel once on tiny inputs of the types the real calls use."""
    prices = np.linspace(100.0, 101.0, LOOKBACK_BARS)
    bars = {"open": prices, "high": prices * 1.01, "low": prices * 0.99, "close": prices, "volume": prices}
    feature_matrix_values(bars, 1)
    feature_matrix_values(bars, 1, {"sig_net": np.zeros(LOOKBACK_BARS), "sig_n": np.zeros(LOOKBACK_BARS)})
    newest_window_sums(prices, 2, 1.0, 1)
    values_clean(prices, prices, prices, prices, prices)
    design_rows(prices, prices, prices, prices, 1e-8)
    forecast_rows(prices, prices, prices, prices, 1e-8, np.zeros(N_REGRESSORS))
    bar_window({"timestamp": np.arange(LOOKBACK_BARS, dtype=np.int64), **bars}, RuleConfig())
    for node in (NODE, WIDE_NODE):
        isolation_scores(np.zeros((1, 1)), np.zeros(1, dtype=node), np.ones(1), 1, 0, 0, 1.0)
