"""The meta-labeling model: the probability that a signal's bet pays, and the size that follows.

A gradient-boosted classifier (scikit-learn's ``HistGradientBoostingClassifier``: shallow trees,
a large minimum leaf, early stopping on a held-out tenth) on the signal's market features, its
direction and strength, and its strategy's record of resolved labels so far. The size is
López de Prado's bet size for two outcomes, ``2 Phi((p - 1/2) / sqrt(p (1 - p))) - 1`` floored at
0: a signal the model gives even odds or worse is not traded, a sure one at full strength.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from nexus_assets.ml.features import FEATURE_COLUMNS

META_FEATURES: tuple[str, ...] = (
    *FEATURE_COLUMNS,
    "direction",
    "strength",
    "record_hit_rate",
    "record_labels",
)
MIN_TRAINING_LABELS = 100
"""Fewer resolved labels than this (or one class only) leave the signals unsized."""


@dataclass(frozen=True)
class MetaLabeler:
    estimator: Any
    trained_labels: int
    base_rate: float
    """Share of training labels that paid."""

    def probability(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(x)[:, 1]


def fit_meta_labeler(x: np.ndarray, paid: np.ndarray, *, seed: int = 0) -> MetaLabeler | None:
    """Fitted on ``x`` (``META_FEATURES`` columns) and 0/1 labels; None when they cannot teach it."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    if paid.shape[0] < MIN_TRAINING_LABELS or np.unique(paid).shape[0] < 2:
        return None
    estimator = HistGradientBoostingClassifier(
        max_depth=3,
        learning_rate=0.05,
        max_iter=200,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        random_state=seed,
    ).fit(x, paid)
    return MetaLabeler(estimator, int(paid.shape[0]), float(paid.mean()))


def bet_size(probability: np.ndarray) -> np.ndarray:
    """Size in [0, 1] from the probability that the bet pays (0 at even odds or worse)."""
    p = np.clip(probability, 1e-6, 1.0 - 1e-6)
    size = 2.0 * norm.cdf((p - 0.5) / np.sqrt(p * (1.0 - p))) - 1.0
    return np.maximum(size, 0.0)
