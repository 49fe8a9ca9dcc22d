"""When and how long to wait before asking the Live Engine again.

Reads and cancels may run twice without harm: they retry on 429, 5xx and transport failures
with exponential backoff and jitter. A POST may not: the real engine ignores idempotency keys,
so a POST whose answer was lost (a timeout, a 5xx from a proxy) may have created its order,
and sending it again would place a second one. POSTs retry only what proves the engine did
nothing: a refused connection and a 429. The rest is left to the caller's ledger, which
reconciles against the engine's own order list. A 429's ``Retry-After`` wins when present,
capped so that one bad header cannot park a publisher for an hour.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import RetryCallState, Retrying

from nexus_assets.http_retry import retrying as shared_retrying
from nexus_assets.live_engine.errors import (
    LiveEngineConnectionError,
    LiveEngineRateLimitError,
    LiveEngineServerError,
)


def is_transient(error: BaseException) -> bool:
    """A failure that another attempt may not meet."""
    return isinstance(error, LiveEngineRateLimitError | LiveEngineServerError | LiveEngineConnectionError)


def is_unprocessed(error: BaseException) -> bool:
    """A failure that proves the request had no effect, so even a POST may be sent again."""
    if isinstance(error, LiveEngineConnectionError):
        return not error.request_sent
    return isinstance(error, LiveEngineRateLimitError)


def retrying(
    *,
    replayable: bool = True,
    max_attempts: int,
    backoff_base_s: float,
    backoff_max_s: float,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """The shared policy: every transient failure of a ``replayable`` call, only unprocessed
    ones of another."""
    return shared_retrying(
        max_attempts=max_attempts,
        backoff_base_s=backoff_base_s,
        backoff_max_s=backoff_max_s,
        should_retry=is_transient if replayable else is_unprocessed,
        before_sleep=before_sleep,
    )
