"""The common shape of every typed error our HTTP clients raise."""

from __future__ import annotations


class ServiceError(Exception):
    """A failed call: the service's message plus the HTTP status, error code, method and path,
    so that one log line is enough to diagnose it. Secrets never go into any field."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        parts = []
        if self.method or self.path:
            parts.append(f"{self.method or '?'} {self.path or '?'}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"[{self.code}]")
        prefix = " ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message
