"""The compiled feature kernel: every feature of the newest bars from their own trailing windows.

Each windowed statistic is a ``windows.window_sums`` (window-local, by doubling), so a row's
value does not depend on where the row sits in the arrays: the few bars a decision carries
give bit for bit what a batch over years gives. NumPy needs some forty array calls for the
same work, each a microsecond or more of overhead on a serving window of a few dozen rows;
compiled (numba, cached on disk) the whole kernel costs about as much as a handful of them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from nexus_assets.ml.windows import newest_window_sums, window_sums


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sample_std(total: np.ndarray, squares: np.ndarray, width: int, rounding: float) -> np.ndarray:
    """Sample standard deviation of each window from its sum and sum of squares (0 within rounding)."""
    out = np.empty(total.shape[0])
    for i in range(total.shape[0]):
        variance = (squares[i] - total[i] * total[i] / width) / (width - 1)
        out[i] = math.sqrt(variance) if variance > rounding * (squares[i] / width) else 0.0
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def feature_rows(
    close: np.ndarray,
    log_close: np.ndarray,
    hl: np.ndarray,
    log_co: np.ndarray,
    log_volume: np.ndarray,
    sig_net: np.ndarray,
    sig_n: np.ndarray,
    rows: int,
    horizons: np.ndarray,
    vol_window: int,
    momentum_window: int,
    momentum_skip: int,
    rsi_window: int,
    ema_fast: int,
    ema_slow: int,
    ema_signal: int,
    decays: np.ndarray,
    weights: np.ndarray,
    signal_windows: np.ndarray,
    gk_close_weight: float,
    parkinson_scale: float,
    rounding: float,
) -> np.ndarray:
    """Features of the newest ``rows`` bars: one row per feature (``features.FEATURE_COLUMNS`` order), one column per bar.

    ``log_close``, ``hl`` (log high/low), ``log_co`` (log close/open) and ``log_volume``
    (log1p) come from NumPy, whose vectorised logarithms are several times faster than the
    scalar ones a compiled loop calls. The caller checks there is enough history and passes the
    constants of ``features``:
    ``decays`` / ``weights`` are the decay and weight sum of the fast, slow and signal EMAs,
    whose windows are ``ema_fast``, ``ema_slow`` and ``ema_signal`` bars. An empty ``sig_net``
    means no signals (zeros). A bar whose ``hl`` is 0 (high == low) takes its range from its
    close-to-close return instead (see below), so closes-only data still has range features.
    """
    n = close.shape[0]
    first = n - rows
    gk_term = np.maximum(0.5 * (hl * hl) - gk_close_weight * (log_co * log_co), 0.0)
    # A bar with no range (high == low: closes-only data, a frozen quote) falls back to its
    # close-to-close log return r: effective range sqrt(4 ln 2) |r|, so its Parkinson variance
    # is r^2, and Garman-Klass term r^2. Bars with a range keep the values above bit for bit.
    bar_range = hl.copy()
    range_per_return = math.sqrt(parkinson_scale)
    # Per-bar series. Entry 0 of the differenced ones, and of the no-range fallback (no previous
    # close there), is never read: the caller passes ``rows + LOOKBACK_BARS - 1`` bars, so even the
    # oldest row's windows start ``LOOKBACK_BARS - vol_window`` (> 0) bars in.
    ret_1 = np.zeros(n)
    gains = np.zeros(n)
    losses = np.zeros(n)
    for u in range(1, n):
        ret_1[u] = log_close[u] - log_close[u - 1]
        change = close[u] - close[u - 1]
        gains[u] = max(change, 0.0)
        losses[u] = max(-change, 0.0)
        if hl[u] == 0.0:
            bar_range[u] = range_per_return * abs(ret_1[u])
            gk_term[u] = ret_1[u] * ret_1[u]
    w = vol_window
    rv = _sample_std(
        newest_window_sums(ret_1, w, 1.0, rows), newest_window_sums(ret_1 * ret_1, w, 1.0, rows), w, rounding
    )
    parkinson = np.sqrt(newest_window_sums(bar_range * bar_range, w, 1.0, rows) / w / parkinson_scale)
    garman_klass = np.sqrt(newest_window_sums(gk_term, w, 1.0, rows) / w)
    mean_close = newest_window_sums(close, w, 1.0, rows) / w
    gain = newest_window_sums(gains, rsi_window, 1.0, rows) / rsi_window
    loss = newest_window_sums(losses, rsi_window, 1.0, rows) / rsi_window
    macd_count = rows + ema_signal - 1
    fast = newest_window_sums(close, ema_fast, decays[0], macd_count) / weights[0]
    slow = newest_window_sums(close, ema_slow, decays[1], macd_count) / weights[1]
    macd = (fast - slow) / close[n - macd_count :]
    signal = window_sums(macd, ema_signal, decays[2]) / weights[2]
    volume_sum = newest_window_sums(log_volume, w, 1.0, rows)
    volume_std = _sample_std(
        volume_sum, newest_window_sums(log_volume * log_volume, w, 1.0, rows), w, rounding
    )
    has_signals = sig_net.shape[0] > 0
    n_signal = signal_windows.shape[0]
    count_window = signal_windows.max()
    signal_sums = np.zeros((n_signal + 1, rows))
    if has_signals:
        for k in range(n_signal):
            signal_sums[k] = newest_window_sums(sig_net, signal_windows[k], 1.0, rows)
        signal_sums[n_signal] = newest_window_sums(sig_n, count_window, 1.0, rows)
    n_horizons = horizons.shape[0]
    out = np.empty((n_horizons + 11 + n_signal + 1, rows))
    for j in range(rows):
        t = first + j
        for k in range(n_horizons):
            out[k, j] = log_close[t] - log_close[t - horizons[k]]
        c = n_horizons
        out[c, j] = rv[j]
        out[c + 1, j] = parkinson[j]
        out[c + 2, j] = garman_klass[j]
        out[c + 3, j] = bar_range[t]
        out[c + 4, j] = log_close[t - momentum_skip] - log_close[t - momentum_window]
        out[c + 5, j] = close[t] / mean_close[j] - 1.0
        out[c + 6, j] = 100.0 * gain[j] / (gain[j] + loss[j]) if gain[j] + loss[j] > 0 else 50.0
        out[c + 7, j] = macd[j + ema_signal - 1]
        out[c + 8, j] = signal[j]
        out[c + 9, j] = macd[j + ema_signal - 1] - signal[j]
        out[c + 10, j] = (log_volume[t] - volume_sum[j] / w) / volume_std[j] if volume_std[j] > 0 else 0.0
        for k in range(n_signal + 1):
            out[c + 11 + k, j] = signal_sums[k, j]
    return out
