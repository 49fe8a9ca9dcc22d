"""A decision request's bars as checked NumPy columns: what the models, the fingerprint and the audit read.

The same rules as every stored bar table (``validate_bar_columns``); a violation is an
``InvalidInputError`` naming the field as pydantic does, answered 422.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from pydantic import ConfigDict, TypeAdapter

from nexus_assets.ml.bars import BarsValidationError, validate_bar_columns
from nexus_assets.ml.features import LOOKBACK_BARS
from nexus_assets.ml.volatility.inputs import VOL_LOOKBACK_BARS
from nexus_serving.model_store import ModelBundle
from nexus_serving.schemas import DecisionRequest

Loc = tuple[str | int, ...]
_EPOCH_MILLISECONDS = TypeAdapter(list[datetime], config=ConfigDict(ser_json_temporal="milliseconds"))
"""Datetimes to epoch milliseconds (float, exact to well under 1 us until the 23rd century) in pydantic's Rust core."""
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
BAR_COLUMN_NAMES = ("timestamp", *VALUE_COLUMNS)
"""The columns of ``RequestBars``, in a fixed order."""


class StaleBarsError(Exception):
    """The request's newest bar is older than ``NEXUS_MAX_BAR_AGE``: answered 503 with the reason.

    Not a 422: the body is valid, the data behind it is not current (a stalled feed), and
    deciding on it would size risk on a market that has moved since.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @classmethod
    def of(cls, newest: datetime, age: timedelta, limit: timedelta) -> StaleBarsError:
        return cls(
            f"stale bars: the newest bar ({newest.isoformat().replace('+00:00', 'Z')}) is "
            f"{_duration(age)} old, older than the limit of {_duration(limit)} (NEXUS_MAX_BAR_AGE); "
            "no decision was made"
        )

    def at(self, where: str) -> StaleBarsError:
        """The same refusal naming the batch item it belongs to."""
        return StaleBarsError(f"{where}: {self.reason}")


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def check_fresh(bars: RequestBars, now: datetime, limit: timedelta | None) -> None:
    """Raise StaleBarsError when the newest bar is older than ``limit`` (None or 0: no limit)."""
    if not limit:
        return
    newest_us = int(bars.columns["timestamp"][-1])
    age_us = round(now.timestamp() * 1e6) - newest_us
    if age_us > limit // timedelta(microseconds=1):
        raise StaleBarsError.of(
            datetime.fromtimestamp(newest_us / 1e6, tz=UTC), timedelta(microseconds=age_us), limit
        )


class InvalidInputError(ValueError):
    """Input the models cannot use; ``loc`` names the field like pydantic does."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def required_bars(window: int) -> int:
    """Bars a request must carry: the predictor window of complete feature rows, and the volatility inputs."""
    return max(window + LOOKBACK_BARS - 1, VOL_LOOKBACK_BARS)


@dataclass(frozen=True, slots=True)
class RequestBars:
    """One request's bars as NumPy columns, validated: what the engine and the fingerprint read."""

    symbol: str
    columns: dict[str, np.ndarray]
    """``timestamp`` (int64 epoch microseconds) and float64 ``open`` ... ``volume``, oldest first."""

    @property
    def height(self) -> int:
        return int(self.columns["timestamp"].shape[0])

    def window_digest(self) -> bytes:
        """The content address of these bars in the audit store (``decision_bar_window``): every
        decision on one symbol and bar window shares one stored copy. Hashed as the checked
        columns, so the same bars written in another time zone are the same window."""
        # A symbol holds no NUL and every column has ``height`` fixed-width entries.
        digest = hashlib.blake2b(f"{self.symbol}\0{self.height}".encode(), digest_size=16)
        for name in BAR_COLUMN_NAMES:
            digest.update(self.columns[name])
        return digest.digest()


def request_bars(request: DecisionRequest) -> RequestBars:
    """The request's columnar bars, checked by the same rules as every bar table (``validate_bar_columns``).

    NumPy only: polars converting 120 datetime objects under a schema costs ~1 ms, and a
    DataFrame of them ~0.2 ms; one is built only to name the row and column of invalid bars.
    """
    bars = request.bars
    height = len(bars.timestamp)
    # np.fromiter: the values are known floats, so NumPy's type discovery on a list is skipped.
    milliseconds = np.fromiter(
        _EPOCH_MILLISECONDS.dump_python(bars.timestamp, mode="json"), np.float64, height
    )
    stamps = np.rint(milliseconds * 1000.0).astype(np.int64)
    later = stamps[1:] > stamps[:-1]
    if not later.all():
        row = int(np.argmin(later)) + 1
        raise InvalidInputError(
            ("body", "bars", "timestamp", row),
            f"bars.timestamp[{row}] is not after bars.timestamp[{row - 1}]: timestamps must strictly increase",
        )
    columns = {"timestamp": stamps}
    for name in VALUE_COLUMNS:
        columns[name] = np.fromiter(getattr(bars, name), np.float64, height)
    try:
        validate_bar_columns(request.signal.symbol, columns, source="bars")
    except BarsValidationError as exc:
        loc: Loc = ("body", "bars")
        if exc.column is not None:
            loc += (exc.column,)
        if exc.row is not None:
            loc += (exc.row - 1,)
        raise InvalidInputError(loc, exc.reason) from exc
    return RequestBars(request.signal.symbol, columns)


def prepare(request: DecisionRequest, bundle: ModelBundle, bars: RequestBars | None = None) -> RequestBars:
    """Validated bars, long enough for ``bundle``; raises InvalidInputError naming the field otherwise."""
    bars = request_bars(request) if bars is None else bars
    need = required_bars(bundle.window)
    if bars.height < need:
        raise InvalidInputError(
            ("body", "bars", "timestamp"),
            f"needs at least {need} bars (predictor window {bundle.window} + feature lookback "
            f"{LOOKBACK_BARS} - 1), got {bars.height}",
        )
    return bars
