"""The wall clock, in one place: assets, stand-ins and tests read the same UTC time."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """Wall-clock time in UTC, timezone-aware."""
    return datetime.now(UTC)
