"""A deterministic, seeded multi-symbol market.

It exists so that the whole platform (features, models, backtests, the Lona stand-in) can run
on data with the properties that break naive models: volatility clustering (GARCH), regime
shifts (a two-state Markov chain), jumps, correlated symbols (market and sector factors),
volume that reacts to moves, a slowly drifting expected return per symbol (the weak,
persistent trend momentum strategies feed on) and a small short-term reversal of
idiosyncratic moves: the faint predictability return models look for in real markets. Each random stream has its own generator, so a longer simulation
extends a shorter one with the same seed bar for bar: the Lona stand-in reveals a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl

from nexus_assets.ml.bars import BAR_SCHEMA

DEFAULT_SYMBOLS: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "AMZN", "JPM", "XOM", "JNJ", "SPY")
Frequency = Literal["1d"]
_DAILY_CLOSE_HOUR_UTC = 21
_STREAMS = (
    "regime",
    "market",
    "sector",
    "idio",
    "jump_hit",
    "jump_size",
    "range",
    "volume",
    "setup",
    "trend",
)


@dataclass(frozen=True)
class MarketSimConfig:
    """What the simulated market looks like; equal configs give equal bars."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    n_bars: int = 1260
    start: date = date(2021, 1, 4)
    frequency: Frequency = "1d"
    seed: int = 7
    n_sectors: int = 3
    calm_to_stress: float = 0.01
    stress_to_calm: float = 0.05
    jump_probability: float = 0.01
    trend_persistence: float = 0.99
    trend_volatility: float = 0.0012
    reversal: float = 0.15
    """Share of yesterday's idiosyncratic move that reverts today (the short-term reversal effect)."""
    """Long-run std of each symbol's slowly drifting expected daily return (trend persistence)."""

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols: at least one symbol is required")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols: duplicate symbol")
        if self.n_bars < 2:
            raise ValueError("n_bars: at least 2 bars are required")
        if self.frequency != "1d":
            raise ValueError("frequency: only daily bars ('1d') are simulated")


def bar_timestamps(start: date, n_bars: int, frequency: Frequency) -> np.ndarray:
    """Bar close times in UTC: business days at the US close (21:00 UTC)."""
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n_bars), roll="forward")
    return days.astype("datetime64[us]") + np.timedelta64(_DAILY_CLOSE_HOUR_UTC, "h")


def simulate_market(config: MarketSimConfig | None = None) -> pl.DataFrame:
    """Simulate OHLCV bars for every symbol in the canonical long layout, sorted."""
    config = config or MarketSimConfig()
    n, k = config.n_bars, len(config.symbols)
    seeds = np.random.SeedSequence(config.seed).spawn(len(_STREAMS))
    rngs = {name: np.random.default_rng(seed) for name, seed in zip(_STREAMS, seeds, strict=True)}

    setup = rngs["setup"]
    beta = setup.uniform(0.6, 1.5, k)
    sector = np.arange(k) % config.n_sectors
    sector_loading = setup.uniform(0.3, 0.7, k)
    idio_long_run = setup.uniform(0.008, 0.02, k) ** 2
    start_price = np.exp(setup.uniform(np.log(20.0), np.log(500.0), k))
    base_volume = np.exp(setup.uniform(np.log(1e6), np.log(5e7), k))

    alpha, beta_g = 0.08, 0.90
    market_long_run = 0.01**2
    omega_m = market_long_run * (1 - alpha - beta_g)
    idio_omega = idio_long_run * (1 - alpha - beta_g)

    regime_u = rngs["regime"].random(n)
    z_market = rngs["market"].standard_normal(n)
    z_sector = rngs["sector"].standard_normal((n, config.n_sectors))
    z_idio = rngs["idio"].standard_normal((n, k))
    jump_hit = rngs["jump_hit"].random((n, k)) < config.jump_probability
    jump_size = rngs["jump_size"].normal(-0.01, 0.05, (n, k))
    range_draw = 1.0 - rngs["range"].random((n, k, 2))  # uniform on (0, 1]
    volume_noise = rngs["volume"].standard_normal((n, k))
    trend_shock = rngs["trend"].standard_normal((n, k))
    trend_step = config.trend_volatility * np.sqrt(1.0 - config.trend_persistence**2)
    trend = np.zeros(k)
    previous_idio = np.zeros(k)

    returns = np.empty((n, k))
    vol = np.empty((n, k))
    stress = np.zeros(n, dtype=bool)
    h_m, h_i = market_long_run, idio_long_run.copy()
    eps_m, eps_i = 0.0, np.zeros(k)
    in_stress = False
    for t in range(n):
        flip = config.calm_to_stress if not in_stress else config.stress_to_calm
        if regime_u[t] < flip:
            in_stress = not in_stress
        stress[t] = in_stress
        h_m = omega_m + alpha * eps_m**2 + beta_g * h_m
        h_i = idio_omega + alpha * eps_i**2 + beta_g * h_i
        level = 2.2 if in_stress else 1.0
        eps_m = np.sqrt(h_m) * z_market[t] * level
        eps_i = np.sqrt(h_i) * z_idio[t]
        sector_move = np.sqrt(market_long_run) * 0.6 * z_sector[t, sector] * level
        drift = -0.0015 if in_stress else 0.0004
        trend = config.trend_persistence * trend + trend_step * trend_shock[t]
        reverting = -config.reversal * previous_idio
        previous_idio = eps_i
        r = drift + trend + reverting + beta * eps_m + sector_loading * sector_move + eps_i
        returns[t] = r
        vol[t] = np.sqrt(beta**2 * h_m * level**2 + h_i)
        # GARCH feeds on the shocks before the regime scaling, which keeps the process stable.
        eps_m /= level
    returns = returns + np.where(jump_hit, jump_size, 0.0)

    gap_share = 0.3
    log_close = np.log(start_price) + np.cumsum(returns, axis=0)
    close = np.exp(log_close)
    prev_close = np.vstack([start_price, close[:-1]])
    open_ = prev_close * np.exp(gap_share * returns)
    # High and low are the extremes of a Brownian bridge from open to close with the bar's
    # intraday volatility (exact sampling), so the range carries as much information about
    # volatility as real ranges do: range-based estimators beat squared returns, as in markets.
    body = np.log(close / open_)
    intraday_var = ((1.0 - gap_share) * vol) ** 2
    top = open_ * np.exp(0.5 * (body + np.sqrt(body**2 - 2.0 * intraday_var * np.log(range_draw[:, :, 0]))))
    bottom = open_ * np.exp(
        0.5 * (body - np.sqrt(body**2 - 2.0 * intraday_var * np.log(range_draw[:, :, 1])))
    )
    surprise = np.abs(returns) / np.maximum(vol, 1e-12)
    volume = base_volume * np.exp(0.35 * volume_noise) * (1.0 + 0.6 * surprise)
    volume = np.round(volume * np.where(stress, 1.6, 1.0)[:, None])

    timestamps = bar_timestamps(config.start, n, config.frequency)
    frame = pl.DataFrame(
        {
            "symbol": np.repeat(np.array(config.symbols, dtype=object), n),
            "timestamp": np.tile(timestamps, k),
            "open": open_.T.ravel(),
            "high": top.T.ravel(),
            "low": bottom.T.ravel(),
            "close": close.T.ravel(),
            "volume": volume.T.ravel(),
        }
    )
    frame = frame.with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    return frame.cast(BAR_SCHEMA).sort("symbol", "timestamp")


def latest_close(now: datetime, frequency: Frequency = "1d") -> datetime:
    """Close time of the newest bar that has finished by ``now`` (UTC)."""
    now = now.astimezone(UTC)
    day = np.busday_offset(np.datetime64(now.date(), "D"), 0, roll="backward")
    close = datetime.combine(day.astype(date), datetime.min.time(), UTC) + timedelta(
        hours=_DAILY_CLOSE_HOUR_UTC
    )
    if close > now:
        day = np.busday_offset(day, -1)
        close = datetime.combine(day.astype(date), datetime.min.time(), UTC) + timedelta(
            hours=_DAILY_CLOSE_HOUR_UTC
        )
    return close


def start_for_end(end: datetime, n_bars: int, frequency: Frequency = "1d") -> date:
    """The ``start`` that makes a simulation of ``n_bars`` bars close its last bar at ``end``."""
    return np.busday_offset(np.datetime64(end.date(), "D"), -(n_bars - 1), roll="backward").astype(date)
