"""The bar value rules as one compiled pass: the check every decision request and stored table takes.

NumPy needs about seventeen array operations for the nine rules, each a microsecond or more
of overhead on a request's 120 bars; compiled (numba, cached on disk) the pass stops at the
first broken bar and costs about as much as one of them.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def bars_obey_value_rules(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> bool:
    """True when every bar has positive finite prices, high and low bracketing open and close, and finite volume >= 0.

    Comparisons are False for NaN and "< inf" rules out infinities, so the one conjunction
    covers every rule ``bars._check_values`` names one by one.
    """
    for i in range(high.shape[0]):
        h, lo = high[i], low[i]
        if not (
            lo > 0
            and h < np.inf
            and h >= lo
            and h >= open_[i]
            and h >= close[i]
            and lo <= open_[i]
            and lo <= close[i]
            and volume[i] >= 0
            and volume[i] < np.inf
        ):
            return False
    return True
