"""A synchronous client for the Lona gateway.

Every call goes through one path that retries transient failures with tenacity and turns
every other outcome into a typed ``LonaError``, so callers (Dagster resources, sensors, the
CLI) handle Lona's failure modes in one vocabulary. The agent token is sent as a header and
scrubbed from every error message; it is never logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx
import orjson
import polars as pl
from tenacity import RetryCallState

from nexus_assets.http_retry import parse_retry_after, retrying
from nexus_assets.lona import envelope
from nexus_assets.lona.errors import (
    LonaConfigError,
    LonaConnectionError,
    LonaError,
    LonaProtocolError,
    LonaReportFailedError,
    LonaReportTimeoutError,
    LonaRequestError,
    error_for_status,
)
from nexus_assets.lona.retry import is_transient, is_unsent
from nexus_assets.lona.simulation import SimulationParameters
from nexus_assets.lona.symbol_data import bars_from_csv
from nexus_assets.lona.symbol_files import download_csv, without_query
from nexus_assets.lona.symbol_forms import FileLink, bars_or_link, file_link
from nexus_assets.lona.wire import as_utc, format_date, format_time, parse_time
from nexus_assets.ml.bars import BarsValidationError

logger = logging.getLogger(__name__)

PAGE_LIMIT = 100
REPORT_STATUSES: frozenset[str] = frozenset({"PENDING", "EXECUTING", "PROCESSING", "COMPLETED", "FAILED"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_STRATEGY_VERSION = "1.0.0"
DEFAULT_STRATEGY_LANGUAGE = "python"


@dataclass(frozen=True)
class _Reply:
    data: Any
    status: int
    method: str
    path: str

    def protocol_error(self, message: str) -> LonaProtocolError:
        return LonaProtocolError(message, status=self.status, method=self.method, path=self.path)

    def fields(self, value: object, fields: tuple[str, ...], what: str) -> dict[str, Any]:
        return envelope.require_fields(
            value, fields, what=what, method=self.method, path=self.path, status=self.status
        )


API_PREFIX = "/api/v1"


def gateway_base_url(url: str) -> str:
    """The API's base URL from ``LONA_GATEWAY_URL`` in either form: the gateway's host (the
    original Trade Nexus backend's form, whose paths start ``/api/v1/``) or the API base itself."""
    url = url.strip().rstrip("/")
    if urlsplit(url).path in ("", "/"):
        return url + API_PREFIX
    return url


class LonaClient:
    """Lona's REST API with retries, typed errors and plain-JSON results."""

    def __init__(
        self,
        base_url: str,
        token: str,
        user_id: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 8.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise LonaConfigError("base_url is empty")
        if not token:
            raise LonaConfigError("token is empty")
        if not user_id:
            raise LonaConfigError("user_id is empty")
        if max_attempts < 1:
            raise LonaConfigError("max_attempts must be at least 1")
        self.base_url = gateway_base_url(base_url)
        self.user_id = user_id
        self._token = token
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"X-API-Key": token, "X-User-Id": user_id, "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )
        # file_url downloads go to storage, another host: none of the agent's headers.
        self._files = httpx.Client(
            headers={"Accept": "text/csv"}, timeout=timeout_s, transport=transport, follow_redirects=True
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> LonaClient:
        """Built from LONA_GATEWAY_URL, LONA_AGENT_TOKEN and LONA_AGENT_ID."""
        values = {}
        for name in ("LONA_GATEWAY_URL", "LONA_AGENT_TOKEN", "LONA_AGENT_ID"):
            value = os.environ.get(name, "").strip()
            if not value:
                raise LonaConfigError(f"environment variable {name} is not set")
            values[name] = value
        return cls(values["LONA_GATEWAY_URL"], values["LONA_AGENT_TOKEN"], values["LONA_AGENT_ID"], **kwargs)

    def __repr__(self) -> str:
        return f"LonaClient(base_url={self.base_url!r}, user_id={self.user_id!r})"

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
        self._files.close()

    # transport ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        files: Mapping[str, Any] | None,
        form: Mapping[str, str] | None,
    ) -> _Reply:
        content = None
        headers = None
        if body is not None:
            content = orjson.dumps(body)
            headers = {"Content-Type": "application/json"}
        try:
            response = self._http.request(
                method,
                path.lstrip("/"),
                params=params,
                content=content,
                headers=headers,
                files=files,
                data=form,
            )
        except httpx.TimeoutException as exc:
            unsent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise LonaConnectionError(
                f"no answer within {self._timeout_s:g}s ({type(exc).__name__})",
                request_sent=not unsent,
                method=method,
                path=path,
            ) from None
        except httpx.TransportError as exc:
            unsent = isinstance(exc, httpx.ConnectError)
            raise LonaConnectionError(
                f"could not reach Lona at {self.base_url}: {self._scrub(str(exc))}",
                request_sent=not unsent,
                method=method,
                path=path,
            ) from None
        if response.is_success:
            data = envelope.unwrap_data(
                response.content, method=method, path=path, status=response.status_code
            )
            return _Reply(data, response.status_code, method, path)
        code, message = envelope.error_details(response.content, response.reason_phrase)
        raise error_for_status(
            response.status_code,
            self._scrub(message),
            code=code,
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "Lona call failed (%s); attempt %d of %d, retrying in %.2fs",
            error,
            state.attempt_number,
            self._max_attempts,
            wait,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        files: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> _Reply:
        """One logical call: retried while transient, then a typed error."""
        safe = method.upper() in _IDEMPOTENT if idempotent is None else idempotent
        policy = retrying(
            max_attempts=self._max_attempts,
            backoff_base_s=self._backoff_base_s,
            backoff_max_s=self._backoff_max_s,
            should_retry=is_transient if safe else is_unsent,
            before_sleep=self._log_retry,
        )
        return policy(self._send_once, method.upper(), path, params, body, files, form)

    # pagination --------------------------------------------------------------------------

    def iter_pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = PAGE_LIMIT
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, fetching pages of ``page_size`` (<= 100) lazily."""
        limit = max(1, min(page_size, PAGE_LIMIT))
        skip = 0
        while True:
            query = {**(params or {}), "skip": skip, "limit": limit}
            reply = self._request("GET", path, params=query)
            items, has_next = envelope.unwrap_page(
                reply.data, method=reply.method, path=reply.path, status=reply.status
            )
            yield from items
            if not has_next:
                return
            if not items:
                raise reply.protocol_error("list page is empty but 'has_next' is true")
            skip += len(items)

    # strategies and symbols --------------------------------------------------------------

    def list_strategies(self) -> list[dict[str, Any]]:
        """Every strategy, with its ``code``: read from ``/strategies/{id}/code`` where the list
        omits it, as the original backend does."""
        return [self._with_code(strategy) for strategy in self.iter_pages("/strategies")]

    def get_strategy(self, strategy_id: str) -> dict[str, Any]:
        reply = self._request("GET", f"/strategies/{_segment(strategy_id)}")
        return self._with_code(reply.fields(reply.data, ("id", "name"), "strategy"))

    def get_strategy_code(self, strategy_id: str) -> str:
        """The strategy's source, from ``GET /strategies/{id}/code`` (``{"code": ...}``)."""
        reply = self._request("GET", f"/strategies/{_segment(strategy_id)}/code")
        code = reply.fields(reply.data, ("code",), "strategy code")["code"]
        if not isinstance(code, str):
            raise reply.protocol_error(f"strategy code 'code' is not text: {type(code).__name__}")
        return code

    def _with_code(self, strategy: dict[str, Any]) -> dict[str, Any]:
        if strategy.get("code") is not None:
            return strategy
        strategy_id = strategy.get("id")
        if not isinstance(strategy_id, str) or not strategy_id:
            raise LonaProtocolError(
                f"strategy 'id' is not a non-empty string: {strategy_id!r}", path="/strategies"
            )
        return {**strategy, "code": self.get_strategy_code(strategy_id)}

    def create_strategy(
        self,
        name: str,
        description: str = "",
        code: str | None = None,
        *,
        version: str = DEFAULT_STRATEGY_VERSION,
        language: str = DEFAULT_STRATEGY_LANGUAGE,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a strategy; repeated only when Lona cannot have received it.

        ``version`` and ``language`` default to what the original backend sends.
        """
        for field, value in (("name", name), ("version", version), ("language", language)):
            if not isinstance(value, str) or not value.strip():
                raise LonaRequestError(f"strategy {field}: expected non-empty text, got {value!r}")
        body = {"name": name, "description": description, "version": version, "language": language, **extra}
        if code is not None:
            body["code"] = code
        reply = self._request("POST", "/strategies", body=body)
        return reply.fields(reply.data, ("id", "name"), "created strategy")

    def list_symbols(self) -> list[dict[str, Any]]:
        return list(self.iter_pages("/symbols"))

    def get_symbol(self, symbol_id: str) -> dict[str, Any]:
        reply = self._request("GET", f"/symbols/{_segment(symbol_id)}")
        return reply.fields(reply.data, ("id", "name"), "symbol")

    def get_symbol_data(
        self, symbol_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> pl.DataFrame:
        """The symbol's bars, canonical and validated, inside ``[start, end]`` when given.

        As the original backend does, the symbol is read first and its ``file_url``, when set,
        is downloaded; otherwise ``/data`` answers in any of the forms ``symbol_forms`` knows.
        Bars are named by the symbol's ``name`` (columnar bars by their own).
        """
        symbol = self.get_symbol(symbol_id)
        name = symbol["name"]
        path = f"/symbols/{_segment(symbol_id)}"
        source = f"Lona symbol {symbol_id}"
        if not isinstance(name, str) or not name:
            raise LonaProtocolError("symbol 'name' is not a non-empty string", method="GET", path=path)
        try:
            found: pl.DataFrame | FileLink
            if symbol.get("file_url") is not None:
                found = file_link(symbol["file_url"], field="file_url", source=source)
            else:
                params = {}
                if start is not None:
                    params["start_date"] = format_time(start)
                if end is not None:
                    params["end_date"] = format_time(end)
                path += "/data"
                reply = self._request("GET", path, params=params)
                found = bars_or_link(reply.data, symbol=name, source=source)
            if isinstance(found, FileLink):
                path = without_query(found.url)
                source = f"Lona symbol {symbol_id} file {path}"
                found = bars_from_csv(self._download(found.url), symbol=name, source=source)
        except BarsValidationError as exc:
            raise LonaProtocolError(f"symbol data: {exc}", method="GET", path=path) from exc
        return _within(found, start, end)

    def _download(self, url: str) -> bytes:
        """A symbol file, retried like any other read."""
        policy = retrying(
            max_attempts=self._max_attempts,
            backoff_base_s=self._backoff_base_s,
            backoff_max_s=self._backoff_max_s,
            should_retry=is_transient,
            before_sleep=self._log_retry,
        )
        return policy(download_csv, self._files, url)

    def upload_symbol_csv(self, name: str, csv_bytes: bytes, frequency: str = "1d") -> dict[str, Any]:
        """Create a symbol from CSV; repeated only when Lona cannot have received it."""
        reply = self._request(
            "POST",
            "/symbols",
            files={"file": (f"{name}.csv", csv_bytes, "text/csv")},
            form={"name": name, "frequency": frequency},
        )
        return reply.fields(reply.data, ("id", "name"), "uploaded symbol")

    # backtests and reports ---------------------------------------------------------------

    def run_backtest(
        self,
        strategy_id: str,
        data_ids: list[str],
        start_date: date | datetime | str,
        end_date: date | datetime | str,
        simulation_parameters: SimulationParameters | Mapping[str, Any] | None = None,
    ) -> str:
        """Start a backtest and return its report id.

        ``simulation_parameters`` defaults to ``SimulationParameters()`` sent in full, as the
        original backend does; a mapping is sent as given. Retried on any transient failure: a
        duplicate run only adds a report, never a trade.
        """
        if simulation_parameters is None:
            simulation_parameters = SimulationParameters()
        if isinstance(simulation_parameters, SimulationParameters):
            simulation_parameters = simulation_parameters.to_json()
        body = {
            "strategy_id": strategy_id,
            "data_ids": list(data_ids),
            "start_date": format_date(start_date),
            "end_date": format_date(end_date),
            "simulation_parameters": dict(simulation_parameters),
        }
        reply = self._request("POST", "/runner/run", body=body, idempotent=True)
        report_id = reply.fields(reply.data, ("report_id",), "runner response")["report_id"]
        if not isinstance(report_id, str) or not report_id:
            raise reply.protocol_error("runner response 'report_id' is not a non-empty string")
        return report_id

    def get_report_status(self, report_id: str) -> dict[str, Any]:
        reply = self._request("GET", f"/reports/{_segment(report_id)}/status")
        status = reply.fields(reply.data, ("status",), "report status")
        if status["status"] not in REPORT_STATUSES:
            raise reply.protocol_error(f"unknown report status {status['status']!r}")
        return status

    def get_report(self, report_id: str) -> dict[str, Any]:
        reply = self._request("GET", f"/reports/{_segment(report_id)}")
        return reply.fields(reply.data, ("id", "strategy_id", "status"), "report")

    def get_full_report(self, report_id: str) -> dict[str, Any]:
        reply = self._request("GET", f"/reports/{_segment(report_id)}/full")
        return reply.fields(reply.data, ("id", "strategy_id", "status", "trades"), "full report")

    def list_reports(self, strategy_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Report summaries, newest first."""
        params = {}
        if strategy_id is not None:
            params["strategy_id"] = strategy_id
        if status is not None:
            params["status"] = status
        reports = list(self.iter_pages("/reports", params))
        keyed = []
        for report in reports:
            try:
                keyed.append((parse_time(report["created_at"]), report))
            except (KeyError, TypeError, ValueError) as exc:
                raise LonaProtocolError(
                    f"report summary lacks a valid 'created_at' ({exc})", method="GET", path="/reports"
                ) from None
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return [report for _, report in keyed]

    def latest_completed_report(self, strategy_id: str) -> dict[str, Any] | None:
        reports = self.list_reports(strategy_id=strategy_id, status="COMPLETED")
        return reports[0] if reports else None

    def wait_for_report(
        self, report_id: str, timeout_s: float = 120.0, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """The report once COMPLETED; a typed error when it fails or takes too long."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.get_report_status(report_id)
            if status["status"] == "COMPLETED":
                return self.get_report(report_id)
            if status["status"] == "FAILED":
                raise self._failure(report_id, status)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LonaReportTimeoutError(
                    f"report {report_id} still {status['status']} after {timeout_s:g}s",
                    code="report_timeout",
                    method="GET",
                    path=f"/reports/{report_id}/status",
                )
            time.sleep(min(poll_s, remaining))

    def _failure(self, report_id: str, status: Mapping[str, Any]) -> LonaReportFailedError:
        """The error of a FAILED report, whose reason Lona keeps in the report body's ``error``
        (the original backend reads it from ``GET /reports/{id}``, not from ``/status``)."""
        reason = self.get_report(report_id).get("error")
        if not isinstance(reason, str) or not reason.strip():
            reason = status.get("error")
        text = " ".join(reason.split()) if isinstance(reason, str) and reason.strip() else "no reason given"
        return LonaReportFailedError(
            f"report {report_id} failed: {self._scrub(text)}",
            code="report_failed",
            method="GET",
            path=f"/reports/{report_id}",
        )


def _within(bars: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """The bars inside the asked range, whatever the form: a CSV file is never cut to it."""
    if start is not None:
        bars = bars.filter(pl.col("timestamp") >= as_utc(start))
    if end is not None:
        bars = bars.filter(pl.col("timestamp") <= as_utc(end))
    return bars


def _segment(value: str) -> str:
    """An id as one path segment, so an id can never reach another resource."""
    if not isinstance(value, str) or not value:
        raise LonaError(f"expected a non-empty id, got {value!r}")
    return quote(value, safe="")
