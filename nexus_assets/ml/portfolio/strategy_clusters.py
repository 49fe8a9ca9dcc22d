"""Strategies that trade alike count once when their signals on a symbol are netted.

Two strategies whose position series on a symbol correlate above ``CLUSTER_CORRELATION`` (0.9)
are one view said twice: netting them as two would double its weight against a third strategy
that disagrees. ``position_series`` rebuilds each strategy's position on one symbol from its
signals (the direction of its newest signal while it stands), ``strategy_clusters`` joins
strategies linked by such a correlation (single linkage), and ``allocate`` averages within each
cluster before averaging the clusters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLUSTER_CORRELATION = 0.9


def position_series(rows: np.ndarray, directions: np.ndarray, n_rows: int, max_age: int) -> np.ndarray:
    """One strategy's position on one symbol at each of ``n_rows`` bars.

    ``rows`` (ascending) are the bars its signals act at, ``directions`` their sides as +1, -1 or
    0; a signal stands until the next one or for ``max_age`` bars, whichever comes first.
    """
    out = np.zeros(n_rows)
    for k, (row, direction) in enumerate(zip(rows, directions, strict=True)):
        end = min(row + max_age, rows[k + 1] if k + 1 < rows.shape[0] else n_rows, n_rows)
        out[row:end] = direction
    return out


def strategy_clusters(
    positions: np.ndarray, names: Sequence[str], threshold: float = CLUSTER_CORRELATION
) -> dict[str, str]:
    """Each strategy's cluster, named by its first member in ``names`` order.

    ``positions`` is [bars, strategies]. A strategy whose position never changes over the bars
    correlates with nothing and is a cluster of its own.
    """
    n = len(names)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    moving = positions.std(axis=0) > 0
    if moving.sum() > 1:
        columns = np.flatnonzero(moving)
        correlation = np.corrcoef(positions[:, columns].T)
        for a in range(columns.size):
            for b in range(a + 1, columns.size):
                if correlation[a, b] > threshold:
                    first, second = sorted((root(columns[a]), root(columns[b])))
                    parent[second] = first
    return {names[i]: names[root(i)] for i in range(n)}
