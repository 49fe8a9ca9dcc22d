"""Window-local trailing sums: the one kernel behind every windowed feature and model input.

A running sum (cumsum, or a sliding add-and-subtract) carries rounding from the whole history
into each value, so a window computed online from a few bars would differ in the last bits
from the same window in a batch over years. Here every window is summed from its own values
only, by doubling: level ``2p`` is ``decay**p * (level p) + (level p shifted by p)``, and a
width is the sum of its binary digits. Each window therefore gets the same floating-point
operations in the same order wherever it sits in the array, so a short serving window and a
long batch column give equal values bit for bit; and a width-``w`` window costs about
``log2(w)`` vector operations rather than ``w``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def trailing_sums(values: np.ndarray, width: int, decay: float = 1.0) -> np.ndarray:
    """Sums of every run of ``width`` consecutive values along the last axis, oldest first.

    Output ``i`` covers ``values[..., i : i + width]``, each value weighted by ``decay ** age``
    (age 0 for the newest of the run), so ``decay=1`` gives plain sums and ``decay < 1`` the
    numerator of a truncated exponential average. The last axis shrinks by ``width - 1``.
    """
    if width < 1:
        raise ValueError(f"width: must be at least 1, got {width}")
    n = values.shape[-1]
    count = max(n - width + 1, 0)
    levels = {1: values}
    step = 1
    while 2 * step <= width:
        part = levels[step]
        older = part[..., : part.shape[-1] - step]
        levels[2 * step] = (older if decay == 1.0 else older * decay**step) + part[..., step:]
        step *= 2
    total = levels[step][..., :count]
    offset, rest = step, width - step
    while rest:
        step //= 2
        if rest >= step:
            newer = levels[step][..., offset : offset + count]
            total = (total if decay == 1.0 else total * decay**step) + newer
            offset += step
            rest -= step
    return total


@lru_cache(maxsize=256)
def weight_sum(width: int, decay: float = 1.0) -> float:
    """Sum of the weights ``trailing_sums`` applies to one window, to turn sums into means.

    Cached: a few (width, decay) pairs recur on every call of the feature kernels.
    """
    return float(sum(decay**age for age in range(width)))


def tail(values: np.ndarray, count: int) -> np.ndarray:
    """The last ``count`` entries along the last axis (arrays here are aligned on their newest row)."""
    return values[..., values.shape[-1] - count :]
