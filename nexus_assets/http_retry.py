"""One retry policy for every HTTP client we own (Lona, the Live Engine).

Backoff is exponential with jitter so that many callers do not retry in lockstep; a 429's
``Retry-After`` wins when present because the service knows its own rate window, but it is
capped so that one bad header cannot park a caller for an hour.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from datetime import UTC, datetime

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


class BackoffWait(wait_base):
    """Exponential backoff with jitter, replaced by a capped ``retry_after`` when the error has one."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self._max_s = max_s
        self._backoff = wait_exponential_jitter(multiplier=base_s, max=max_s, jitter=base_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self._max_s)
        return self._backoff(retry_state)


def retrying(
    *,
    max_attempts: int,
    backoff_base_s: float,
    backoff_max_s: float,
    should_retry: Callable[[BaseException], bool],
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """A tenacity policy that re-raises the last typed error when attempts run out."""
    return Retrying(
        stop=stop_after_attempt(max_attempts),
        wait=BackoffWait(backoff_base_s, backoff_max_s),
        retry=retry_if_exception(should_retry),
        before_sleep=before_sleep,
        reraise=True,
    )
