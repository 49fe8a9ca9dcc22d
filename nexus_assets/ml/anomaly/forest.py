"""A compact, pickle-free copy of a fitted scikit-learn ``IsolationForest`` for serving.

scikit-learn scores one row in milliseconds (input validation, one Cython call per tree and a
joblib dispatch). Here every tree is flattened into shared node arrays, packed on construction
into the small records that one compiled kernel (``forest_kernel``) descends, so one row costs
microseconds. The arithmetic mirrors ``IsolationForest.score_samples`` (float32 inputs, leaf
depth plus the average path length ``c(n)`` of the leaf's training samples, normalised by
``c(max_samples_)``) so the scores agree to rounding. It also needs no pickle: the arrays are the whole model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nexus_assets.ml.anomaly.forest_kernel import PackedNodes, isolation_scores, pack_nodes


def average_path_length(n_samples: np.ndarray) -> np.ndarray:
    """``c(n)``: expected path length of an unsuccessful search in a BST built on ``n`` samples.

    Same cases and operation order as scikit-learn's ``_average_path_length``.
    """
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros(n.shape)
    out[n == 2] = 1.0
    big = n > 2
    nb = n[big]
    out[big] = 2.0 * (np.log(nb - 1.0) + np.euler_gamma) - 2.0 * (nb - 1.0) / nb
    return out


@dataclass(frozen=True, eq=False)
class CompactIsolationForest:
    """Flattened isolation trees; ``score_samples`` equals scikit-learn's on the same rows.

    Node arrays are global over all trees: ``children[2 * i]`` / ``children[2 * i + 1]`` are the
    left and right child of node ``i``, and a leaf points to itself twice; ``n_levels`` descent
    steps (the deepest tree's depth) land every tree on its leaf, and bound the descent of any
    arrays, however malformed.
    ``leaf_path`` holds, per leaf, its depth plus ``c(leaf samples) - 1``: the tree's path length.
    These arrays are the stored model; ``packed`` is their copy for scoring, built on construction.
    """

    roots: np.ndarray
    children: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_go_left: np.ndarray
    leaf_path: np.ndarray
    n_levels: int
    n_features: int
    denominator: float
    offset: float
    packed: PackedNodes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.check()
        packed = pack_nodes(
            self.roots,
            self.children,
            self.feature,
            self.threshold,
            self.nan_go_left,
            self.leaf_path,
            self.n_features,
        )
        object.__setattr__(self, "packed", packed)

    @classmethod
    def from_sklearn(cls, estimator: Any) -> CompactIsolationForest:
        """Extract the trees of a fitted ``sklearn.ensemble.IsolationForest``."""
        if not hasattr(estimator, "estimators_"):
            raise ValueError("estimator: IsolationForest is not fitted")
        n_features = int(estimator.n_features_in_)
        # Trees fitted on a feature subset index into it; scikit-learn then passes X[:, subset].
        subsampled = len(estimator.estimators_features_[0]) != n_features
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("children", "feature", "threshold", "nan", "leaf")
        }
        roots, offset, n_levels = [], 0, 0
        for tree, columns in zip(estimator.estimators_, estimator.estimators_features_, strict=True):
            t = tree.tree_
            left = t.children_left.astype(np.int64)
            right = t.children_right.astype(np.int64)
            is_leaf = left == -1
            own = np.arange(t.node_count, dtype=np.int64)
            left = np.where(is_leaf, own, left) + offset
            right = np.where(is_leaf, own, right) + offset
            feature = np.where(is_leaf, 0, t.feature).astype(np.int64)
            if subsampled:
                feature = np.asarray(columns, dtype=np.int64)[feature]
            depths = t.compute_node_depths()
            path = depths + average_path_length(t.n_node_samples) - 1.0
            parts["children"].append(np.stack([left, right], axis=1).ravel())
            parts["feature"].append(np.where(is_leaf, 0, feature))
            parts["threshold"].append(np.where(is_leaf, 0.0, t.threshold))
            parts["nan"].append(np.asarray(t.missing_go_to_left, dtype=bool))
            parts["leaf"].append(np.where(is_leaf, path, 0.0))
            roots.append(offset)
            offset += t.node_count
            n_levels = max(n_levels, int(depths.max()) - 1)
        n_trees = len(estimator.estimators_)
        scale = average_path_length(np.array([estimator.max_samples_]))[0]
        return cls(
            roots=np.array(roots, dtype=np.int64),
            children=np.concatenate(parts["children"]),
            feature=np.concatenate(parts["feature"]),
            threshold=np.concatenate(parts["threshold"]).astype(np.float64),
            nan_go_left=np.concatenate(parts["nan"]),
            leaf_path=np.concatenate(parts["leaf"]),
            n_levels=n_levels,
            n_features=n_features,
            denominator=float(n_trees * scale),
            offset=float(estimator.offset_),
        )

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    def _checked(self, x: np.ndarray, ndim: int) -> np.ndarray:
        rows = np.asarray(x, dtype=np.float64)
        if rows.ndim != ndim or rows.shape[-1] != self.n_features:
            raise ValueError(f"X: expected {self.n_features} feature column(s), got shape {rows.shape}")
        return rows.reshape(-1, self.n_features)

    def score_one(self, x: np.ndarray) -> float:
        """``score_samples`` of a single row (1-D array of ``n_features`` values)."""
        return float(self._scores(self._checked(x, 1))[0])

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """Opposite of the isolation anomaly score per row, exactly as scikit-learn defines it."""
        return self._scores(self._checked(x, 2))

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        packed = self.packed
        return isolation_scores(
            np.ascontiguousarray(rows),
            packed.nodes,
            packed.leaf_path,
            packed.n_trees,
            self.n_levels,
            packed.feature_bits,
            self.denominator,
        )

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """``score_samples - offset_``: negative for outliers, as in scikit-learn."""
        return self.score_samples(x) - self.offset

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array and scalar, for ``numpy.savez``; ``from_arrays`` inverts it."""
        return {
            "roots": self.roots,
            "children": self.children,
            "feature": self.feature,
            "threshold": self.threshold,
            "nan_go_left": self.nan_go_left,
            "leaf_path": self.leaf_path,
            "n_levels": np.array(self.n_levels),
            "n_features": np.array(self.n_features),
            "denominator": np.array(self.denominator),
            "offset": np.array(self.offset),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> CompactIsolationForest:
        """Rebuild from ``to_arrays`` output (a dict or an open ``.npz``); ValueError if malformed."""
        try:
            return cls(
                roots=np.asarray(arrays["roots"], dtype=np.int64),
                children=np.asarray(arrays["children"], dtype=np.int64),
                feature=np.asarray(arrays["feature"], dtype=np.int64),
                threshold=np.asarray(arrays["threshold"], dtype=np.float64),
                nan_go_left=np.asarray(arrays["nan_go_left"], dtype=bool),
                leaf_path=np.asarray(arrays["leaf_path"], dtype=np.float64),
                n_levels=int(arrays["n_levels"]),
                n_features=int(arrays["n_features"]),
                denominator=float(arrays["denominator"]),
                offset=float(arrays["offset"]),
            )
        except KeyError as exc:
            raise ValueError(f"forest arrays: missing {exc.args[0]!r}") from exc

    def check(self) -> None:
        """Raise ValueError unless the arrays describe trees that descent cannot index out of."""
        n_nodes = self.feature.shape[0]
        problems = [
            (self.roots.ndim != 1, "roots must be one-dimensional"),
            (self.children.shape != (2 * n_nodes,), "children must hold two entries per node"),
            (
                any(a.shape != (n_nodes,) for a in (self.threshold, self.nan_go_left, self.leaf_path)),
                "threshold, nan_go_left and leaf_path must hold one entry per node",
            ),
            (bool(((self.children < 0) | (self.children >= n_nodes)).any()), "a child index is out of range"),
            (bool(((self.roots < 0) | (self.roots >= n_nodes)).any()), "a root index is out of range"),
            (
                bool(((self.feature < 0) | (self.feature >= self.n_features)).any()),
                "a feature index is out of range",
            ),
            (self.n_levels < 0 or self.denominator < 0, "n_levels and denominator must not be negative"),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(f"forest arrays: {message}")
