"""How times and dates travel on the Lona wire: ISO 8601, always UTC.

One formatter for client, stand-in and signals, so that the same instant always has the same
text (signal ids hash it) and naive values never drift by a local offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """``2021-01-04T21:00:00Z`` (microseconds only when present)."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def parse_time(value: object) -> datetime:
    """An aware UTC datetime from ISO 8601 text (``Z``, an offset, or naive meaning UTC)."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 time, got {value!r}") from exc


def format_date(value: date | datetime | str) -> str:
    """``YYYY-MM-DD`` for a runner request; text is checked, not trusted."""
    if isinstance(value, datetime):
        return as_utc(value).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return parse_bound(value, end=False).date().isoformat()


def parse_bound(value: str, *, end: bool) -> datetime:
    """A range bound: a bare date covers its whole UTC day, a time is taken as given.

    Returns an inclusive start, or an exclusive end (the next midnight for a bare date).
    """
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"expected a date or ISO 8601 time, got {value!r}") from exc
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    moment = parse_time(text)
    return moment + timedelta(microseconds=1) if end else moment
