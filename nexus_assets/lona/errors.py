"""Typed failures of the Lona gateway.

Callers branch on the class (retry later, fix credentials, drop a bad payload) and show the
message; every error carries the HTTP status and Lona's own message so that a log line is
enough to diagnose a failure without replaying the call.
"""

from __future__ import annotations

from nexus_assets.service_errors import ServiceError


class LonaError(ServiceError):
    """Any failure talking to Lona or reading what it answered."""


class LonaAuthError(LonaError):
    """401/403: the agent token or id is missing, wrong or not allowed."""


class LonaNotFoundError(LonaError):
    """404: the strategy, symbol or report does not exist."""


class LonaValidationError(LonaError):
    """400/422: Lona rejected the request itself; retrying will not help."""


class LonaConflictError(LonaError):
    """409: the request clashes with the current state (duplicate name, report not ready)."""


class LonaRateLimitError(LonaError):
    """429 after every attempt; ``retry_after`` is Lona's hint in seconds, when given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, method=method, path=path)
        self.retry_after = retry_after


class LonaServerError(LonaError):
    """5xx after every attempt."""


class LonaConnectionError(LonaError):
    """Lona could not be reached or did not answer in time, after every attempt.

    ``request_sent`` is False when the request never left (connect failure), which is what
    makes a non-idempotent call safe to repeat.
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


class LonaProtocolError(LonaError):
    """A success status whose body is not the JSON envelope or lacks expected fields."""


class LonaPayloadError(LonaProtocolError, ValueError):
    """A report or trade payload with a missing or invalid field, located by field and trade."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        index: int | None = None,
        item_id: str | None = None,
    ) -> None:
        self.field = field
        self.index = index
        self.item_id = item_id
        where = f"trades[{index}]" if index is not None else "report"
        if item_id:
            where += f" (id {item_id!r})"
        super().__init__(f"{where}: field '{field}' {message}")


class LonaRequestError(LonaError, ValueError):
    """A request the client refuses to send, because a value in it is wrong; names the field."""


class LonaReportFailedError(LonaError):
    """A backtest report ended FAILED; ``message`` is Lona's error for it."""


class LonaReportTimeoutError(LonaError):
    """A backtest report did not complete within the time the caller allowed."""


def error_for_status(
    status: int,
    message: str,
    *,
    code: str | None = None,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> LonaError:
    """The typed error for an HTTP error status."""
    if status == 429:
        return LonaRateLimitError(
            message, retry_after=retry_after, status=status, code=code, method=method, path=path
        )
    if status >= 500:
        return LonaServerError(message, status=status, code=code, method=method, path=path)
    classes: dict[int, type[LonaError]] = {
        400: LonaValidationError,
        401: LonaAuthError,
        403: LonaAuthError,
        404: LonaNotFoundError,
        409: LonaConflictError,
        422: LonaValidationError,
    }
    error_class = classes.get(status, LonaError)
    return error_class(message, status=status, code=code, method=method, path=path)


class LonaConfigError(LonaError, ValueError):
    """The client cannot be built: a required setting is missing or empty."""
