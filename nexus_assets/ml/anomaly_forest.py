"""A compact, numpy-only copy of a fitted scikit-learn ``IsolationForest`` for serving.

scikit-learn scores one row in milliseconds (input validation, one Cython call per tree and a
joblib dispatch). Here every tree is flattened into shared node arrays and all trees descend
together, one depth level per step, so one row costs a handful of small numpy operations. The
arithmetic mirrors ``IsolationForest.score_samples`` (float32 inputs, leaf depth plus the
average path length ``c(n)`` of the leaf's training samples, normalised by ``c(max_samples_)``)
so the scores agree to rounding. It also needs no pickle: the arrays are the whole model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_CHUNK_ROWS = 256
"""Rows descended together in batch scoring; bounds the (trees x rows) work arrays."""


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
    left and right child of node ``i``, and a leaf points to itself twice, so a fixed number of
    descent steps (the deepest tree's depth) lands every tree on its leaf without branching.
    ``leaf_path`` holds, per leaf, its depth plus ``c(leaf samples) - 1``: the tree's path length.
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
    # Slot layout for descent: slot 2i + d is node i heading left (d = 0) or right (d = 1), so a
    # step is ``slot = next_slot[slot + (x[slot_feature[slot]] > slot_threshold[slot])]`` with no
    # multiply. Derived from the fields above; never stored.
    _next_slot: np.ndarray = field(init=False, repr=False)
    _slot_feature: np.ndarray = field(init=False, repr=False)
    _slot_threshold: np.ndarray = field(init=False, repr=False)
    _slot_nan_right: np.ndarray = field(init=False, repr=False)
    _slot_leaf_path: np.ndarray = field(init=False, repr=False)
    _root_slots: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        derived = {
            "_next_slot": 2 * self.children,
            "_slot_feature": np.repeat(self.feature, 2),
            "_slot_threshold": np.repeat(self.threshold, 2),
            "_slot_nan_right": np.repeat(~self.nan_go_left, 2),
            "_slot_leaf_path": np.repeat(self.leaf_path, 2),
            "_root_slots": 2 * self.roots,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

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

    def _as_float32(self, x: np.ndarray, ndim: int) -> np.ndarray:
        # scikit-learn casts inputs to float32 before descending; compare the same values.
        values = np.asarray(x, dtype=np.float32).astype(np.float64)
        if values.ndim != ndim or values.shape[-1] != self.n_features:
            raise ValueError(f"X: expected {self.n_features} feature column(s), got shape {values.shape}")
        return values

    def _to_score(self, total_path: np.ndarray | float) -> np.ndarray:
        if self.denominator == 0.0:
            # One training sample: scikit-learn fixes the normalised depth at 1, a score of -0.5.
            return -(2 ** -np.ones_like(np.asarray(total_path, dtype=np.float64)))
        return -(2 ** (-np.divide(total_path, self.denominator)))

    def score_one(self, x: np.ndarray) -> float:
        """``score_samples`` of a single row (1-D array of ``n_features`` values)."""
        row = self._as_float32(x, 1)
        next_slot, feature, threshold = self._next_slot, self._slot_feature, self._slot_threshold
        slot = self._root_slots
        if np.isnan(row).any():
            for _ in range(self.n_levels):
                value = row[feature[slot]]
                right = np.where(np.isnan(value), self._slot_nan_right[slot], value > threshold[slot])
                slot = next_slot[slot + right]
        else:
            for _ in range(self.n_levels):
                slot = next_slot[slot + (row[feature[slot]] > threshold[slot])]
        return float(self._to_score(self._slot_leaf_path[slot].sum()))

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """Opposite of the isolation anomaly score per row, exactly as scikit-learn defines it."""
        rows = self._as_float32(x, 2)
        out = np.empty(rows.shape[0])
        for start in range(0, rows.shape[0], _CHUNK_ROWS):
            out[start : start + _CHUNK_ROWS] = self._score_chunk(rows[start : start + _CHUNK_ROWS])
        return out

    def _score_chunk(self, rows: np.ndarray) -> np.ndarray:
        n = rows.shape[0]
        flat = rows.T.ravel()
        column_base = np.arange(n, dtype=np.int64)[None, :]
        slot = np.repeat(self._root_slots[:, None], n, axis=1)
        has_nan = bool(np.isnan(rows).any())
        for _ in range(self.n_levels):
            value = flat[self._slot_feature[slot] * n + column_base]
            right = value > self._slot_threshold[slot]
            if has_nan:
                right = np.where(np.isnan(value), self._slot_nan_right[slot], right)
            slot = self._next_slot[slot + right]
        # Trees are summed one after another, in the same order scikit-learn accumulates them.
        return self._to_score(np.add.reduce(self._slot_leaf_path[slot], axis=0))

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
        """Rebuild from ``to_arrays`` output (a dict or an open ``.npz``)."""
        try:
            forest = cls(
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
        forest.check()
        return forest

    def check(self) -> None:
        """Raise ValueError unless the arrays describe trees that descent cannot index out of."""
        n_nodes = self.feature.shape[0]
        problems = [
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
