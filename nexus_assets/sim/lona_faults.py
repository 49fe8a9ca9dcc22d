"""Fault injection and request counting for the Lona stand-in.

Tests arm a fault ("the next 2 requests to /reports answer 429") and then read how many
requests actually arrived, which is how they check a client's retry policy against a real
HTTP server instead of a mock.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultSpec(BaseModel):
    """One armed fault; exactly one of ``status``, ``malformed`` or ``delay_s`` says what."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: int | None = Field(default=None, ge=400, le=599)
    malformed: bool = False
    delay_s: float | None = Field(default=None, ge=0.0, le=60.0)
    count: int = Field(default=1, ge=1, le=1000)
    path_prefix: str | None = None
    method: str | None = Field(default=None, pattern="^(GET|POST|PUT|PATCH|DELETE)$")
    """Only requests of this method match (``POST`` on ``/orders`` leaves the order list alone)."""
    retry_after: float | None = Field(default=None, ge=0.0)
    body: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FaultSpec:
        kinds = [self.status is not None, self.malformed, self.delay_s is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of status, malformed or delay_s")
        return self


@dataclass
class _Armed:
    spec: FaultSpec
    remaining: int

    def matches(self, path: str, api_prefix: str, method: str | None) -> bool:
        if self.spec.method is not None and method is not None and method != self.spec.method:
            return False
        prefix = self.spec.path_prefix
        if not prefix:
            return True
        return path.startswith(prefix) or path.startswith(api_prefix + "/" + prefix.lstrip("/"))


class FaultBoard:
    """Armed faults, consumed first come first served by matching requests."""

    def __init__(self, api_prefix: str) -> None:
        self._api_prefix = api_prefix
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def arm(self, spec: FaultSpec) -> None:
        with self._lock:
            self._armed.append(_Armed(spec, spec.count))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, path: str, method: str | None = None) -> FaultSpec | None:
        with self._lock:
            for armed in self._armed:
                if armed.remaining > 0 and armed.matches(path, self._api_prefix, method):
                    armed.remaining -= 1
                    return armed.spec
            self._armed = [a for a in self._armed if a.remaining > 0]
            return None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {**a.spec.model_dump(exclude_none=True), "remaining": a.remaining}
                for a in self._armed
                if a.remaining > 0
            ]


class RequestStats:
    """API requests counted on arrival (by ``METHOD path``) and on answer (by status).

    Counting on arrival matters for timeouts: the client gives up before the answer exists.
    ``in_flight`` lets a test wait for late answers before it resets the counters.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._in_flight = 0

    def arrived(self, method: str, path: str) -> None:
        with self._lock:
            self._paths[f"{method} {path}"] += 1
            self._in_flight += 1

    def answered(self, status: int) -> None:
        with self._lock:
            self._statuses[str(status)] += 1
            self._in_flight -= 1

    def reset(self) -> None:
        with self._lock:
            self._paths.clear()
            self._statuses.clear()

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "total": sum(self._paths.values()),
                "paths": dict(self._paths),
                "statuses": dict(self._statuses),
                "in_flight": self._in_flight,
            }
