"""When and how long to wait before asking the Live Engine again.

Every Live Engine call may run twice without harm (reads, cancels, and writes that carry an
idempotency key), so one policy covers all of them: retry on 429, 5xx and transport failures
with exponential backoff and jitter. A 429's ``Retry-After`` wins when present, capped so that
one bad header cannot park a publisher for an hour.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from nexus_assets.live_engine.errors import (
    LiveEngineConnectionError,
    LiveEngineRateLimitError,
    LiveEngineServerError,
)


class BackoffWait(wait_base):
    """Exponential backoff with jitter, replaced by a capped ``Retry-After`` when the engine sends one."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self._max_s = max_s
        self._backoff = wait_exponential_jitter(multiplier=base_s, max=max_s, jitter=base_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, LiveEngineRateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self._max_s)
        return self._backoff(retry_state)


def is_transient(error: BaseException) -> bool:
    """A failure that another attempt may not meet."""
    return isinstance(error, LiveEngineRateLimitError | LiveEngineServerError | LiveEngineConnectionError)


def retrying(
    *,
    max_attempts: int,
    backoff_base_s: float,
    backoff_max_s: float,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """A tenacity policy that re-raises the last typed error when attempts run out."""
    return Retrying(
        stop=stop_after_attempt(max_attempts),
        wait=BackoffWait(backoff_base_s, backoff_max_s),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
