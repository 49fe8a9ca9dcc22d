"""Label-free evaluation of an anomaly detector by injecting known anomalies into held-out bars.

There are no labelled anomalies in market history, so we make some: copy a window of real
held-out bars, corrupt its newest bars (a price spike, a volatility burst, a volume shock, a
frozen quote with no volume), and recompute the features from the corrupted bars with the same
``compute_features`` that training and serving use. Corrupting bars rather than feature values
keeps every feature consistent with every other, as a real bad feed would. Clean held-out rows
are the negatives. The detector and a naive baseline (|ret_1| / rv_21, the "3-sigma move"
rule) are scored on exactly the same rows, so a caller can require "beats the baseline".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly.inputs import VOL_FLOOR, column, feature_matrix
from nexus_assets.ml.anomaly.model import AnomalyDetector
from nexus_assets.ml.bars import BAR_COLUMNS
from nexus_assets.ml.features import LOOKBACK_BARS, compute_features

BASELINE_THRESHOLD = 3.0
"""The baseline flags a one-bar move larger than three times the recent volatility."""
_PRICES = ("open", "high", "low", "close")
_Bars = dict[str, np.ndarray]


def baseline_scores(features: pl.DataFrame) -> np.ndarray:
    """Naive anomaly score: the size of the last move in units of recent volatility."""
    matrix = feature_matrix(features)
    return np.abs(column(matrix, "ret_1")) / np.maximum(column(matrix, "rv_21"), VOL_FLOOR)


def _recent_sigma(w: _Bars, span: int) -> float:
    returns = np.diff(np.log(w["close"][: -span - 1]))[-20:]
    return float(max(np.std(returns, ddof=1), 1e-4))


def _price_spike(w: _Bars, rng: np.random.Generator) -> None:
    """A bad print: the newest close jumps 6 to 10 recent sigmas, the range stretched to hold it."""
    jump = rng.choice([-1.0, 1.0]) * rng.uniform(6.0, 10.0) * _recent_sigma(w, 1)
    w["close"][-1] *= np.exp(jump)
    w["high"][-1] = max(w["high"][-1], w["close"][-1])
    w["low"][-1] = min(w["low"][-1], w["close"][-1])


def _volatility_burst(w: _Bars, rng: np.random.Generator) -> None:
    """The last 5 bars move 3 to 5 times as far as they did, same directions, same volume."""
    factor = rng.uniform(3.0, 5.0)
    old_close = w["close"].copy()
    n = old_close.size
    for k in range(n - 5, n):
        anchor = w["close"][k - 1]
        # Scale each price's log distance from the previous close; close goes last.
        for name in _PRICES:
            w[name][k] = anchor * np.exp(factor * np.log(w[name][k] / old_close[k - 1]))


def _volume_shock(w: _Bars, rng: np.random.Generator) -> None:
    """Volume 12 to 55 times higher, or as much lower, on the newest bar only."""
    w["volume"][-1] *= np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(2.5, 4.0))


def _stale_quote(w: _Bars, rng: np.random.Generator) -> None:
    """The feed freezes: the last 3 to 6 bars repeat the previous close with zero volume."""
    span = int(rng.integers(3, 7))
    frozen = w["close"][-span - 1]
    for name in _PRICES:
        w[name][-span:] = frozen
    w["volume"][-span:] = 0.0


INJECTIONS: dict[str, Callable[[_Bars, np.random.Generator], None]] = {
    "price_spike": _price_spike,
    "volatility_burst": _volatility_burst,
    "volume_shock": _volume_shock,
    "stale_quote": _stale_quote,
}


def _injected_windows(
    bars: pl.DataFrame, n_per_kind: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Corrupted copies of random ``LOOKBACK_BARS`` windows, one pseudo-symbol each, and their kinds."""
    per_symbol = bars.partition_by("symbol", maintain_order=True)
    candidates = [
        (s, end) for s, frame in enumerate(per_symbol) for end in range(LOOKBACK_BARS, frame.height + 1)
    ]
    if not candidates:
        raise ValueError(f"bars_holdout: no symbol has the {LOOKBACK_BARS} bars that one feature row needs")
    kinds = [kind for kind in INJECTIONS for _ in range(n_per_kind)]
    picks = rng.choice(len(candidates), size=len(kinds), replace=len(candidates) < len(kinds))
    columns: dict[str, list[np.ndarray]] = {name: [] for name in BAR_COLUMNS}
    for j, (kind, pick) in enumerate(zip(kinds, picks, strict=True)):
        s, end = candidates[int(pick)]
        window = per_symbol[s].slice(end - LOOKBACK_BARS, LOOKBACK_BARS)
        arrays = {name: window[name].to_numpy().astype(np.float64) for name in (*_PRICES, "volume")}
        INJECTIONS[kind](arrays, rng)
        columns["symbol"].append(np.full(LOOKBACK_BARS, f"inj{j:06d}"))
        columns["timestamp"].append(window["timestamp"].to_numpy())
        for name, values in arrays.items():
            columns[name].append(values)
    frame = pl.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()})
    frame = frame.with_columns(pl.col("timestamp").cast(bars.schema["timestamp"]))
    labels = pl.DataFrame({"symbol": [f"inj{j:06d}" for j in range(len(kinds))], "kind": kinds})
    return frame, labels


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores sharing their average rank)."""
    positive = labels.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc: need both positive and negative rows")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = float(average_rank[inverse][positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _rates(prefix: str, labels: np.ndarray, flagged: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    positive = labels.astype(bool)
    true_pos = int((flagged & positive).sum())
    out = {
        f"{prefix}_precision": true_pos / max(int(flagged.sum()), 1),
        f"{prefix}_recall": true_pos / int(positive.sum()),
        f"{prefix}_false_positive_rate": int((flagged & ~positive).sum()) / int((~positive).sum()),
    }
    for kind in INJECTIONS:
        out[f"{prefix}_recall_{kind}"] = float(flagged[kinds == kind].mean())
    return out


def _aucs(prefix: str, labels: np.ndarray, scores: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    out = {f"{prefix}_auc": roc_auc(labels, scores)}
    negative = ~labels.astype(bool)
    for kind in INJECTIONS:
        rows = negative | (kinds == kind)
        out[f"{prefix}_auc_{kind}"] = roc_auc(labels[rows], scores[rows])
    return out


def evaluate_anomaly_detector(
    detector: AnomalyDetector, bars_holdout: pl.DataFrame, *, seed: int, n_per_kind: int = 100
) -> dict[str, float]:
    """ROC-AUC, precision, recall (overall and per injected kind) of detector and baseline.

    ``bars_holdout``: out-of-sample OHLCV bars (``BAR_COLUMNS``) that the detector never saw.
    Keys: ``model_*`` (calibrated model score alone), ``detector_*`` (``score_frame``: model
    plus feature rules, thresholded at ``detector.threshold``) and ``baseline_*`` (|ret_1| /
    rv_21, thresholded at ``BASELINE_THRESHOLD``), plus the row counts. Deterministic given
    ``seed``. Raises ValueError when the holdout lacks bar columns or history.
    """
    missing = [c for c in BAR_COLUMNS if c not in bars_holdout.columns]
    if missing:
        raise ValueError(f"bars_holdout: missing column(s) {', '.join(map(repr, missing))}")
    if n_per_kind < 1:
        raise ValueError(f"n_per_kind: expected at least 1, got {n_per_kind}")
    bars = bars_holdout.select(BAR_COLUMNS).sort("symbol", "timestamp")
    clean = compute_features(bars)
    if clean.is_empty():
        raise ValueError(f"bars_holdout: no symbol has the {LOOKBACK_BARS} bars that one feature row needs")
    windows, kinds = _injected_windows(bars, n_per_kind, np.random.default_rng(seed))
    injected = compute_features(windows).join(kinds, on="symbol", how="left", maintain_order="left")
    rows = pl.concat([clean.select(injected.columns[:-1]), injected.drop("kind")], how="vertical_relaxed")
    labels = np.r_[np.zeros(clean.height), np.ones(injected.height)]
    kind = np.r_[np.full(clean.height, ""), injected["kind"].to_numpy().astype(str)]
    model = detector.model_scores(rows)
    combined = detector.score_frame(rows).to_numpy()
    baseline = baseline_scores(rows)
    return {
        "n_clean": float(clean.height),
        "n_injected": float(injected.height),
        **_aucs("model", labels, model, kind),
        **_aucs("detector", labels, combined, kind),
        **_aucs("baseline", labels, baseline, kind),
        **_rates("model", labels, model >= detector.threshold, kind),
        **_rates("detector", labels, combined >= detector.threshold, kind),
        **_rates("baseline", labels, baseline >= BASELINE_THRESHOLD, kind),
    }
