"""Rules on an incoming strategy signal against the market it is meant to trade.

A signal is suspect when it is malformed (unknown side, strength outside [0, 1], unreadable
time), when it is about another symbol than the bars, when its time does not fit the bars (in
the future, or many bars away from the newest one), or when it bets hard against a market
that is moving sharply the other way, which is what a stale or mis-routed signal looks like.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from nexus_assets.ml.anomaly.bar_window import epoch_us
from nexus_assets.ml.anomaly.inputs import VOL_FLOOR, first_value
from nexus_assets.ml.anomaly.rule_config import CRITICAL, WARNING, RuleConfig, RuleHit

SIDES: tuple[str, ...] = ("buy", "sell", "flat")
_DIRECTION = {"buy": 1.0, "sell": -1.0, "flat": 0.0}


@dataclass(frozen=True)
class MarketContext:
    """What a signal is checked against; any part may be unknown (None)."""

    symbol: str | None
    newest_bar_us: int | None
    interval_us: int
    now: datetime | None
    row: np.ndarray | None
    """The signal's symbol's features at the newest bar: a ``feature_matrix`` (its first row is
    read) or one row of it."""


def _strength(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def _form_hits(
    signal: Mapping[str, Any], market: MarketContext
) -> tuple[list[RuleHit], str | None, float | None]:
    hits = []
    side = signal.get("side")
    if side not in SIDES:
        hits.append(
            RuleHit("signal_unknown_side", CRITICAL, f"signal side {side!r} is not one of {', '.join(SIDES)}")
        )
        side = None
    strength = _strength(signal.get("strength"))
    if strength is None:
        hits.append(
            RuleHit(
                "signal_bad_strength",
                CRITICAL,
                f"signal strength {signal.get('strength')!r} is not in [0, 1]",
            )
        )
    symbol = signal.get("symbol")
    if market.symbol is not None and symbol is not None and symbol != market.symbol:
        hits.append(
            RuleHit(
                "signal_symbol_mismatch",
                CRITICAL,
                f"signal is for {symbol!r} but the market data is for {market.symbol!r}",
            )
        )
    return hits, side, strength


def _timing_hits(signal: Mapping[str, Any], market: MarketContext, config: RuleConfig) -> list[RuleHit]:
    try:
        at = epoch_us(signal.get("timestamp"), field="signal.timestamp")
    except ValueError as exc:
        return [RuleHit("signal_bad_timestamp", CRITICAL, str(exc))]
    hits = []
    if market.now is not None:
        ahead = at - epoch_us(market.now, field="now")
        if ahead > config.clock_skew / timedelta(microseconds=1):
            hits.append(
                RuleHit("signal_in_future", CRITICAL, f"signal time is {ahead / 1e6:.0f} s after now")
            )
    if market.newest_bar_us is not None:
        lag = (at - market.newest_bar_us) / market.interval_us
        if lag < -config.signal_lag_bars:
            hits.append(
                RuleHit(
                    "signal_stale", WARNING, f"signal is {-lag:.1f} bar intervals older than the newest bar"
                )
            )
        elif lag > config.signal_lag_bars:
            hits.append(
                RuleHit(
                    "signal_ahead_of_bars",
                    WARNING,
                    f"signal is {lag:.1f} bar intervals newer than the newest bar: bars are lagging",
                )
            )
    return hits


def _against_market(
    side: str | None, strength: float | None, market: MarketContext, config: RuleConfig
) -> list[RuleHit]:
    if market.row is None or side is None or strength is None or strength < config.against_market_strength:
        return []
    vol = max(first_value(market.row, "rv_21"), VOL_FLOOR)
    week = first_value(market.row, "ret_5")
    z = week / (vol * math.sqrt(5.0))
    if _DIRECTION[side] * z <= -config.against_market_z:
        trend = "falling" if z < 0 else "rising"
        return [
            RuleHit(
                "signal_against_market",
                WARNING,
                f"strong {side} signal ({strength:.2f}) against a sharply {trend} market "
                f"({math.expm1(week):+.1%} over 5 bars, {z:+.1f} sigma)",
            )
        ]
    return []


def signal_rules(signal: Mapping[str, Any], market: MarketContext, config: RuleConfig) -> list[RuleHit]:
    """Every signal rule that fires, in a stable order."""
    if not isinstance(signal, Mapping):
        return [RuleHit("signal_malformed", CRITICAL, f"signal is {type(signal).__name__}, not an object")]
    hits, side, strength = _form_hits(signal, market)
    hits += _timing_hits(signal, market, config)
    hits += _against_market(side, strength, market, config)
    return hits
