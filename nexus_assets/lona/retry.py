"""Which failed Lona calls are worth another attempt (the policy itself: ``nexus_assets.http_retry``)."""

from __future__ import annotations

from nexus_assets.lona.errors import (
    LonaConnectionError,
    LonaRateLimitError,
    LonaServerError,
)


def is_transient(error: BaseException) -> bool:
    """Worth another attempt for a call that may safely run twice."""
    return isinstance(error, LonaRateLimitError | LonaServerError | LonaConnectionError)


def is_unsent(error: BaseException) -> bool:
    """Worth another attempt for a call that must not run twice: Lona surely did not act."""
    if isinstance(error, LonaRateLimitError):
        return True
    return isinstance(error, LonaConnectionError) and not error.request_sent
