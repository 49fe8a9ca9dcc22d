"""Compiled descent of packed isolation trees: the one scorer behind batch and serving.

NumPy descends all trees one level per step, a dozen small array operations per level; a
single row then costs ~0.3 ms of call overhead for ~3,000 node visits. Compiled once with
numba (cached on disk), the same descent is a few microseconds. Path lengths are added tree
after tree, in the order scikit-learn accumulates them, so a row scores the same alone or in
a batch.

Between requests a service's caches are cold, and each node visit is a miss. So a node is one
8-byte record (``NODE``): its float32 threshold and one word holding the index of its child
pair, its feature and its NaN direction. Siblings are adjacent, so a visit reads one cache
line instead of four, and a 300-tree forest of 100k nodes descends 0.8 MB instead of 4 MB.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

_TREES_IN_FLIGHT = 16
"""Trees descended side by side: their node loads are independent, so the CPU overlaps the
cache misses of a 300-tree forest instead of waiting on one at a time."""

NODE = np.dtype([("threshold", "<f4"), ("link", "<u4")], align=True)
"""A node: ``threshold`` and ``link = child << (feature_bits + 1) | feature << 1 | nan_right``."""

WIDE_NODE = np.dtype([("threshold", "<f4"), ("link", "<u8")], align=True)
"""The same, 16 bytes, for forests whose links do not fit 32 bits (many nodes and features)."""

_CACHE_LINE = 64


class PackedNodes(NamedTuple):
    """The layout ``isolation_scores`` descends; ``pack_nodes`` builds it.

    ``nodes[t]`` is the root of tree ``t``. An inner node's children are ``nodes[child]`` (left)
    and ``nodes[child + 1]`` (right); a leaf is its own left child, with threshold +inf and NaN
    going left, so descent stays put. ``leaf_path[i]`` is the path length of ending on node ``i``.
    """

    nodes: np.ndarray
    leaf_path: np.ndarray
    n_trees: int
    feature_bits: int


def round_down_f32(values: np.ndarray) -> np.ndarray:
    """The largest float32 <= each value: for float32 ``x``, ``x > t`` iff ``x > round_down_f32(t)``."""
    exact = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        nearest = exact.astype(np.float32)
    above = nearest.astype(np.float64) > exact
    nearest[above] = np.nextafter(nearest[above], np.float32(-np.inf))
    return nearest


def pack_nodes(
    roots: np.ndarray,
    children: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    nan_go_left: np.ndarray,
    leaf_path: np.ndarray,
    n_features: int,
    *,
    wide: bool = False,
) -> PackedNodes:
    """Pack flat node arrays (``CompactIsolationForest``'s, already checked in range) for descent.

    Nodes are renumbered level by level: roots first, then each inner node's children as one
    adjacent pair. Step for step, descent visits copies of the nodes it visits in the flat
    arrays, however malformed: a node with two parents (or in a cycle) is copied into each
    place, sharing one child pair. ``wide`` forces ``WIDE_NODE`` (tests).
    """
    n_nodes = feature.shape[0]
    own = np.arange(n_nodes)
    pairs = children.reshape(n_nodes, 2)
    is_leaf = (pairs[:, 0] == own) & (pairs[:, 1] == own)
    pair_at = np.full(n_nodes, -1, dtype=np.int64)
    n_trees = roots.shape[0]
    first_pair = n_trees + n_trees % 2  # pairs start on even slots: never split across a line
    levels = [roots.astype(np.int64), np.zeros(first_pair - n_trees, dtype=np.int64)]
    padding = np.zeros(first_pair, dtype=bool)
    padding[n_trees:] = True
    frontier, n_slots = levels[0], first_pair
    while frontier.size:
        inner = frontier[~is_leaf[frontier] & (pair_at[frontier] < 0)]
        _, first_seen = np.unique(inner, return_index=True)
        parents = inner[np.sort(first_seen)]
        pair_at[parents] = n_slots + 2 * np.arange(parents.size)
        n_slots += 2 * parents.size
        frontier = pairs[parents].ravel()
        levels.append(frontier)
    source = np.concatenate(levels)
    padding = np.concatenate([padding, np.zeros(n_slots - first_pair, dtype=bool)])
    stays = is_leaf[source] | padding
    child = np.where(stays, np.arange(n_slots), pair_at[source])
    feature_bits = max(n_features - 1, 0).bit_length()
    wide = wide or (n_slots << (feature_bits + 1)) > 2**32
    if (n_slots << (feature_bits + 1)) > 2**63:
        raise ValueError(f"forest arrays: {n_slots} nodes of {n_features} features cannot be packed")
    dtype = WIDE_NODE if wide else NODE
    buffer = np.zeros(n_slots * dtype.itemsize + _CACHE_LINE, dtype=np.uint8)
    start = -buffer.ctypes.data % _CACHE_LINE
    nodes = buffer[start : start + n_slots * dtype.itemsize].view(dtype)
    nodes["threshold"] = np.where(stays, np.float32(np.inf), round_down_f32(threshold[source]))
    nan_right = ~stays & ~nan_go_left[source]
    link = (child << (feature_bits + 1)) | (np.where(stays, 0, feature[source]) << 1) | nan_right
    nodes["link"] = link.astype(dtype["link"])
    path = np.where(padding, 0.0, leaf_path[source])
    return PackedNodes(nodes, path, n_trees, feature_bits)


@numba.njit(cache=True, nogil=True)
def isolation_scores(
    rows: np.ndarray,
    nodes: np.ndarray,
    leaf_path: np.ndarray,
    n_trees: int,
    max_steps: int,
    feature_bits: int,
    denominator: float,
) -> np.ndarray:
    """Per row, ``IsolationForest.score_samples``: ``-2 ** -(sum of path lengths / denominator)``.

    ``nodes`` and the rest come from ``pack_nodes``. Values are rounded to float32, as
    scikit-learn compares them, against thresholds rounded down to float32, which keeps every
    comparison exact. Every tree takes ``max_steps`` steps (the deepest leaf's depth) without
    a branch on leaves: a leaf leads to itself, and the fixed count bounds any descent.
    """
    out = np.empty(rows.shape[0])
    at = np.empty(_TREES_IN_FLIGHT, dtype=np.int64)
    values = np.zeros(max(rows.shape[1], 1), dtype=np.float32)
    child_shift = feature_bits + 1
    feature_mask = (1 << feature_bits) - 1
    for r in range(rows.shape[0]):
        for c in range(rows.shape[1]):
            values[c] = np.float32(rows[r, c])
        total = 0.0
        for first in range(0, n_trees, _TREES_IN_FLIGHT):
            group = min(_TREES_IN_FLIGHT, n_trees - first)
            for j in range(group):
                at[j] = first + j
            for _ in range(max_steps):
                for j in range(group):
                    node = nodes[at[j]]
                    link = np.int64(node.link)
                    value = values[(link >> 1) & feature_mask]
                    right = (value > node.threshold) | (np.isnan(value) & ((link & 1) != 0))
                    at[j] = (link >> child_shift) + np.int64(right)
            for j in range(group):
                total += leaf_path[at[j]]
        # One training sample: scikit-learn fixes the normalised depth at 1, a score of -0.5.
        out[r] = -(2.0 ** (-(total / denominator))) if denominator > 0.0 else -0.5
    return out
