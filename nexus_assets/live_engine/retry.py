"""When and how long to wait before asking the Live Engine again.

Every Live Engine call may run twice without harm (reads, cancels, and writes that carry an
idempotency key), so one policy covers all of them: retry on 429, 5xx and transport failures
with exponential backoff and jitter. A 429's ``Retry-After`` wins when present, capped so that
one bad header cannot park a publisher for an hour.
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


def retrying(
    *,
    max_attempts: int,
    backoff_base_s: float,
    backoff_max_s: float,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """The shared policy, retrying every transient failure (every call here may run twice)."""
    return shared_retrying(
        max_attempts=max_attempts,
        backoff_base_s=backoff_base_s,
        backoff_max_s=backoff_max_s,
        should_retry=is_transient,
        before_sleep=before_sleep,
    )
