"""A synchronous client for the Live Engine's internal API.

Every call goes through one path that retries with tenacity and turns every other outcome into
a typed ``LiveEngineError``. Reads and cancels retry transient failures (429, 5xx, timeouts,
refused connections). POSTs do not retry a failure after which the engine may have acted: the
real engine accepts an ``idempotencyKey`` and ignores it, so a second POST after a lost answer
would be a second order. Such a failure reaches the caller, whose ledger finds out from the
engine's order list what happened (``ledger``, ``reconcile``). The API key travels only in the
``Authorization`` header and is scrubbed from every error.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import orjson
from tenacity import RetryCallState

from nexus_assets.http_retry import parse_retry_after
from nexus_assets.live_engine import envelope
from nexus_assets.live_engine.errors import (
    LiveEngineConfigError,
    LiveEngineConnectionError,
    LiveEngineProtocolError,
    error_for_status,
)
from nexus_assets.live_engine.models import (
    DEPLOYMENT_MODES,
    Deployment,
    DeploymentMode,
    Order,
    OrderRequest,
    Portfolio,
)
from nexus_assets.live_engine.parse import (
    FieldError,
    parse_deployment,
    parse_list,
    parse_order,
    parse_portfolio,
)
from nexus_assets.live_engine.retry import retrying

logger = logging.getLogger(__name__)

API_PREFIX = "/api/internal"
T = TypeVar("T")


@dataclass(frozen=True)
class _Reply:
    body: bytes
    status: int
    method: str
    path: str

    def read(self, member: str, parse: Callable[[object], T]) -> T:
        """``member`` of the body, parsed; any deviation is a protocol error naming the field."""
        try:
            return parse(envelope.unwrap(self.body, member))
        except FieldError as exc:
            raise self.protocol_error(str(exc), field=exc.field) from None
        except ValueError as exc:
            raise self.protocol_error(str(exc)) from None

    def protocol_error(self, message: str, field: str | None = None) -> LiveEngineProtocolError:
        return LiveEngineProtocolError(
            message, field=field, status=self.status, method=self.method, path=self.path
        )


class LiveEngineClient:
    """The Live Engine's orders, portfolios and deployments, with retries and typed results."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 8.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise LiveEngineConfigError("base_url is empty")
        if not api_key:
            raise LiveEngineConfigError("api_key is empty")
        if max_attempts < 1:
            raise LiveEngineConfigError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> LiveEngineClient:
        """Built from LIVE_ENGINE_URL and LIVE_ENGINE_API_KEY (or its alias, ``API_KEY_VARIABLES``)."""
        url = os.environ.get("LIVE_ENGINE_URL", "").strip()
        if not url:
            raise LiveEngineConfigError("environment variable LIVE_ENGINE_URL is not set")
        key = api_key_from_env()
        if key is None:
            raise LiveEngineConfigError(f"environment variable {' or '.join(API_KEY_VARIABLES)} is not set")
        return cls(url, key, **kwargs)

    def __repr__(self) -> str:
        return f"LiveEngineClient(base_url={self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # transport ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***")

    def _send_once(self, method: str, path: str, body: dict[str, Any] | None) -> _Reply:
        content = None if body is None else orjson.dumps(body)
        # As the original backend's adapter: a request id per attempt, for the engine's logs.
        headers = {"X-Request-Id": f"nexus-{uuid.uuid4()}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, API_PREFIX + path, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            unsent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise LiveEngineConnectionError(
                f"no answer within {self._timeout_s:g}s ({type(exc).__name__})",
                request_sent=not unsent,
                method=method,
                path=path,
            ) from None
        except httpx.TransportError as exc:
            raise LiveEngineConnectionError(
                f"could not reach the Live Engine at {self.base_url}: {self._scrub(str(exc))}",
                request_sent=not isinstance(exc, httpx.ConnectError),
                method=method,
                path=path,
            ) from None
        if response.is_success:
            return _Reply(response.content, response.status_code, method, path)
        message = envelope.error_message(response.content, response.reason_phrase)
        raise error_for_status(
            response.status_code,
            self._scrub(message),
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "Live Engine call failed (%s); attempt %d of %d, retrying in %.2fs",
            error,
            state.attempt_number,
            self._max_attempts,
            wait,
        )

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, replayable: bool = True
    ) -> _Reply:
        """One logical call: retried while transient (only while unprocessed when not
        ``replayable``), then a typed error."""
        policy = retrying(
            replayable=replayable,
            max_attempts=self._max_attempts,
            backoff_base_s=self._backoff_base_s,
            backoff_max_s=self._backoff_max_s,
            before_sleep=self._log_retry,
        )
        return policy(self._send_once, method, path, body)

    # orders ------------------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> Order:
        """Place an order: every call that reaches the engine makes a new one.

        Not retried once the request may have arrived (``LiveEngineConnectionError`` with
        ``request_sent``, a 5xx): the caller reconciles instead of sending it twice.
        """
        reply = self._request("POST", "/orders", request.to_json(), replayable=False)
        return reply.read("order", parse_order)

    def list_orders(self, status: str | None = None) -> list[Order]:
        """Every order the engine holds (it forgets them when it restarts), optionally of one status."""
        path = "/orders" if status is None else f"/orders?status={quote(status, safe='')}"
        return self._request("GET", path).read("items", lambda value: parse_list(value, "items", parse_order))

    def get_order(self, order_id: str) -> Order:
        return self._request("GET", f"/orders/{_segment(order_id)}").read("order", parse_order)

    def cancel_order(self, order_id: str) -> Order:
        """Cancel an order; the answer says what it is now (a filled order stays filled)."""
        return self._request("DELETE", f"/orders/{_segment(order_id)}").read("order", parse_order)

    # portfolios and deployments -----------------------------------------------------------

    def list_portfolios(self) -> list[Portfolio]:
        reply = self._request("GET", "/portfolios")
        return reply.read("items", lambda value: parse_list(value, "items", parse_portfolio))

    def get_portfolio(self, portfolio_id: str) -> Portfolio:
        return self._request("GET", f"/portfolios/{_segment(portfolio_id)}").read(
            "portfolio", parse_portfolio
        )

    def list_deployments(self, status: str | None = None) -> list[Deployment]:
        path = "/deployments" if status is None else f"/deployments?status={quote(status, safe='')}"
        reply = self._request("GET", path)
        return reply.read("items", lambda value: parse_list(value, "items", parse_deployment))

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._request("GET", f"/deployments/{_segment(deployment_id)}").read(
            "deployment", parse_deployment
        )

    def create_deployment(self, strategy_id: str, *, mode: DeploymentMode, capital: float) -> Deployment:
        """Create a deployment: every call that reaches the engine makes a new one (see
        ``book.open_deployment`` for finding the one already there)."""
        if mode not in DEPLOYMENT_MODES:
            raise ValueError(f"mode: must be 'paper' or 'live', got {mode!r}")
        body = {"strategyId": strategy_id, "mode": mode, "capital": capital}
        return self._request("POST", "/deployments", body, replayable=False).read(
            "deployment", parse_deployment
        )

    def stop_deployment(self, deployment_id: str) -> Deployment:
        """Ask a deployment to stop (a running one moves to ``stopping``); repeating it is harmless."""
        return self._request("POST", f"/deployments/{_segment(deployment_id)}/stop").read(
            "deployment", parse_deployment
        )


API_KEY_VARIABLES: tuple[str, ...] = ("LIVE_ENGINE_API_KEY", "LIVE_ENGINE_SERVICE_API_KEY")
"""Ours first, then the name the original Trade Nexus backend gives the engine's service key."""


def api_key_from_env() -> str | None:
    """The Live Engine's service key from the first of ``API_KEY_VARIABLES`` that is set."""
    for name in API_KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _segment(value: str) -> str:
    """An id as one path segment, so an id can never reach another resource."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty id, got {value!r}")
    return quote(value, safe="")
