"""Anomaly rule severities and thresholds: what every rule module and the saved model share.

Severity: ``CRITICAL`` (1.0) means the data cannot be trusted and trading on it should stop;
``WARNING`` (0.99) equals the default threshold, so with the defaults it gates too, but a caller
who raises the threshold keeps only the critical rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any

CRITICAL = 1.0
WARNING = 0.99
DEFAULT_BAR_INTERVAL = timedelta(days=1)
"""Assumed bar spacing when neither the config nor a bar window gives one (daily bars)."""


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: a stable code for machines, a sentence for people."""

    code: str
    severity: float
    reason: str


@dataclass(frozen=True)
class RuleConfig:
    """Rule thresholds; saved with the model so that serving applies the ones it was evaluated with.

    Defaults suit daily bars of liquid instruments: a weekend plus a holiday is four bar
    intervals, so neither the stale, the gap nor the signal-lag rule fires on an ordinary
    calendar, with half an interval to spare for a bar that is a little late to arrive.
    """

    bar_interval: timedelta | None = None
    """Expected bar spacing; None uses the median spacing of the bar window (else one day)."""
    stale_after_bars: float = 4.5
    """Newest bar older than this many intervals at ``now``: the feed has stopped."""
    gap_factor: float = 5.0
    """Two consecutive bars further apart than this many intervals: bars are missing."""
    extreme_move_ratio: float = 3.5
    """|ret_1| above this many rv_21 (which includes the bar itself; 3.5 is about 5.5 sigma of
    the preceding 20 bars, and rv_21 including the bar caps the ratio near 4.5)."""
    absurd_log_move: float = 0.4
    """|ret_1| above this log return (+49% / -33% in one bar) is taken for bad data."""
    flat_run: int = 3
    """This many newest bars with open = high = low = close, all equal: a frozen quote."""
    zero_volume_run: int = 3
    """This many newest bars with zero volume: nothing is trading."""
    against_market_z: float = 3.0
    """A week's move (ret_5 / (rv_21 sqrt 5)) beyond this against the signal's side."""
    against_market_strength: float = 0.5
    """Only signals at least this strong count as betting against the market."""
    signal_lag_bars: float = 4.5
    """A signal further than this many intervals from the newest bar is out of step with it."""
    clock_skew: timedelta = timedelta(minutes=5)
    """Tolerance before a signal or bar timestamp counts as being in the future."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (durations in seconds)."""
        out = asdict(self)
        for name, value in out.items():
            if isinstance(value, timedelta):
                out[name] = value.total_seconds()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"rule config: unknown field(s) {', '.join(unknown)}")
        values = dict(data)
        for name in ("bar_interval", "clock_skew"):
            if values.get(name) is not None:
                values[name] = timedelta(seconds=float(values[name]))
        return cls(**values)
