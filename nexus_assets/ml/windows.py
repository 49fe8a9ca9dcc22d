"""Window-local trailing sums: the one kernel behind every windowed feature and model input.

A running sum (cumsum, or a sliding add-and-subtract) carries rounding from the whole history
into each value, so a window computed online from a few bars would differ in the last bits
from the same window in a batch over years. Here every window is summed from its own values
only, by doubling (``window_sums``, compiled with numba): each window gets the same
floating-point operations in the same order wherever it sits in the array, so a short serving
window and a long batch column give equal values bit for bit, at about ``log2(width)``
operations per value.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def newest_window_sums(values: np.ndarray, width: int, decay: float, count: int) -> np.ndarray:
    """The ``count`` newest ``window_sums`` (fewer when the values cannot fill them).

    Only the values those windows reach are read, so a short serving window and a batch block
    cost what they return.
    """
    start = max(values.shape[0] - count - width + 1, 0)
    return window_sums(values[start:], width, decay)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def window_sums(values: np.ndarray, width: int, decay: float) -> np.ndarray:
    """Sums of every run of ``width`` consecutive values, oldest first, by doubling.

    Output ``i`` covers ``values[i : i + width]``, each value weighted by ``decay ** age`` (age 0
    for the newest of the run), so ``decay=1`` gives plain sums and ``decay < 1`` the numerator
    of a truncated exponential average. The kernel every windowed statistic uses.

    Level ``2p`` is ``decay**p * (level p) + (level p shifted by p)``, and a width is the sum of
    its binary digits, so every window gets the same operations in the same order wherever it
    sits, and costs about ``log2(width)`` steps rather than ``width``.
    """
    if width < 1:
        raise ValueError("width: must be at least 1")
    n = values.shape[0]
    count = n - width + 1
    if count <= 0:
        return np.empty(0)
    levels = [np.ascontiguousarray(values)]
    step = 1
    while 2 * step <= width:
        levels.append(_doubled(levels[-1], step, decay**step))
        step *= 2
    level = len(levels) - 1
    total = levels[level][:count].copy()
    offset, rest = step, width - step
    while rest:
        step //= 2
        level -= 1
        if rest >= step:
            factor, newer = decay**step, levels[level]
            for i in range(count):
                total[i] = total[i] * factor + newer[offset + i]
            offset += step
            rest -= step
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _doubled(level: np.ndarray, step: int, factor: float) -> np.ndarray:
    """The next doubling level: sums of ``2 * step`` values from two neighbouring sums of ``step``."""
    out = np.empty(level.shape[0] - step)
    for i in range(out.shape[0]):
        out[i] = level[i] * factor + level[i + step]
    return out


@lru_cache(maxsize=256)
def weight_sum(width: int, decay: float = 1.0) -> float:
    """Sum of the weights ``window_sums`` applies to one window, to turn sums into means.

    Cached: a few (width, decay) pairs recur on every call of the feature kernels.
    """
    return float(sum(decay**age for age in range(width)))


def tail(values: np.ndarray, count: int) -> np.ndarray:
    """The last ``count`` entries along the last axis (arrays here are aligned on their newest row)."""
    return values[..., values.shape[-1] - count :]
