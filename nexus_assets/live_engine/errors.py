"""Typed failures of the Live Engine.

Callers branch on the class (retry later, fix the key, drop a bad order) and log the message;
every error carries the HTTP status, method and path, so one log line is enough to diagnose a
failed call. The API key never appears in any of them.
"""

from __future__ import annotations

from nexus_assets.service_errors import ServiceError


class LiveEngineError(ServiceError):
    """Any failure talking to the Live Engine or reading what it answered."""

    def __init__(
        self, message: str, *, status: int | None = None, method: str | None = None, path: str | None = None
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)


class LiveEngineConfigError(LiveEngineError, ValueError):
    """The client cannot be built: a required setting is missing or empty."""


class LiveEngineAuthError(LiveEngineError):
    """401/403: the API key is missing, wrong or not allowed to do this."""


class LiveEngineNotFoundError(LiveEngineError):
    """404: the order, portfolio or deployment does not exist."""


class LiveEngineConflictError(LiveEngineError):
    """409: clashes with the current state (a filled order, an idempotency key reused differently)."""


class LiveEngineValidationError(LiveEngineError):
    """400/422: the engine refused the request itself; retrying will not help."""


class LiveEngineRateLimitError(LiveEngineError):
    """429 after every attempt; ``retry_after`` is the engine's hint in seconds, when given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.retry_after = retry_after


class LiveEngineServerError(LiveEngineError):
    """5xx after every attempt."""


class LiveEngineConnectionError(LiveEngineError):
    """The engine could not be reached or did not answer in time, after every attempt.

    ``request_sent`` is False when the request never left (connect failure): then the engine
    surely did not act on it.
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool = True,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.request_sent = request_sent


class LiveEngineProtocolError(LiveEngineError):
    """A success status whose body is not JSON or not the documented layout.

    ``field`` names the offending member (``order.quantity``) when one is to blame.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.field = field


class PublishInterruptedError(LiveEngineError):
    """A publish stopped after an order may have reached the engine; the ledger holds its intent
    (``sending``), and the next publish settles it from the engine's order list."""


def error_for_status(
    status: int,
    message: str,
    *,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> LiveEngineError:
    """The typed error for an HTTP error status."""
    if status == 429:
        return LiveEngineRateLimitError(
            message, retry_after=retry_after, status=status, method=method, path=path
        )
    if status >= 500:
        return LiveEngineServerError(message, status=status, method=method, path=path)
    classes: dict[int, type[LiveEngineError]] = {
        400: LiveEngineValidationError,
        401: LiveEngineAuthError,
        403: LiveEngineAuthError,
        404: LiveEngineNotFoundError,
        409: LiveEngineConflictError,
        422: LiveEngineValidationError,
    }
    return classes.get(status, LiveEngineError)(message, status=status, method=method, path=path)
