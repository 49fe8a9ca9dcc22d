"""Recent decisions for the console, read-only from the audit store the service writes.

Each query opens its own read-only connection (SQLite ``mode=ro``; PostgreSQL in a read-only
transaction), so the console never contends with the audit writer's connection or its locks.
The table layout is ``nexus_serving.audit.sinks``'s.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from nexus_assets.paths import decision_store_location
from nexus_serving.audit.sinks import REQUEST_VIEW, TABLE
from nexus_serving.settings import Settings

MAX_ROWS = 200
_LIST = (
    "SELECT decision_id, request_id, decided_at, symbol, action, model_versions, features_hash, "
    "latency_ms, {strategy} AS strategy_id, response FROM {table} "
    "WHERE ({p} IS NULL OR symbol = {p}) AND ({p} IS NULL OR action = {p}) "
    "AND ({p} IS NULL OR {strategy} = {p}) ORDER BY decided_at DESC LIMIT {n}"
)
_SQLITE_LIST = _LIST.format(
    strategy="json_extract(request, '$.signal.strategy_id')", table=TABLE, p="?", n="?"
)
_POSTGRES_LIST = _LIST.format(
    strategy="(request->'signal'->>'strategy_id')", table=TABLE, p="%s::text", n="%s"
)
_ONE = (
    "SELECT a.decision_id, a.request_id, a.decided_at, a.symbol, a.action, a.model_versions, "
    "a.features_hash, a.latency_ms, {strategy} AS strategy_id, a.response, v.request "
    f"FROM {TABLE} a JOIN {REQUEST_VIEW} v ON v.decision_id = a.decision_id WHERE a.decision_id = {{p}}"
)
_SQLITE_ONE = _ONE.format(strategy="json_extract(a.request, '$.signal.strategy_id')", p="?")
_POSTGRES_ONE = _ONE.format(strategy="(a.request->'signal'->>'strategy_id')", p="%s::text")


MAX_MARKS = 2000
_EQUITY = (
    "SELECT decided_at, {book} AS book, {equity} AS equity FROM {table} "
    "WHERE {equity} IS NOT NULL ORDER BY decided_at DESC LIMIT {n}"
)
_SQLITE_EQUITY = _EQUITY.format(
    book="json_extract(request, '$.portfolio.book')",
    equity="json_extract(request, '$.portfolio.equity')",
    table=TABLE,
    n="?",
)
_POSTGRES_EQUITY = _EQUITY.format(
    book="(request->'portfolio'->>'book')",
    equity="(request->'portfolio'->>'equity')::double precision",
    table=TABLE,
    n="%s",
)


@dataclass(frozen=True)
class Filters:
    symbol: str | None = None
    action: str | None = None
    strategy: str | None = None


@dataclass(frozen=True)
class DecisionRow:
    decision_id: str
    request_id: str
    decided_at: str
    symbol: str
    action: str
    model_versions: dict[str, str]
    features_hash: str
    latency_ms: float
    strategy_id: str | None
    response: dict[str, Any]
    request: dict[str, Any] | None = None
    """The full request, bars included; only on a single decision's page."""

    @property
    def target_weight(self) -> float | None:
        return self.response.get("target_weight")

    @property
    def reasons(self) -> list[str]:
        return list(self.response.get("reasons") or [])


def _json(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    return orjson.loads(value)


def _row(values: tuple) -> DecisionRow:
    decision_id, request_id, decided_at, symbol, action, versions, features, latency, strategy, response = (
        values[:10]
    )
    return DecisionRow(
        decision_id=decision_id,
        request_id=request_id,
        decided_at=decided_at if isinstance(decided_at, str) else decided_at.isoformat(),
        symbol=symbol,
        action=action,
        model_versions=_json(versions),
        features_hash=features,
        latency_ms=latency,
        strategy_id=strategy,
        response=_json(response),
        request=_json(values[10]) if len(values) > 10 else None,
    )


def _query(settings: Settings, sqlite_query: str, postgres_query: str, params: tuple) -> list[tuple]:
    url = settings.audit_database_url.get_secret_value() if settings.audit_database_url else None
    location = decision_store_location(url)
    if isinstance(location, Path):
        return _sqlite(location, sqlite_query, params)
    return _postgres(location, settings.audit_schema, postgres_query, params)


def _sqlite(path: Path, query: str, params: tuple) -> list[tuple]:
    if not path.exists():
        return []  # no decision made yet
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        return conn.execute(query, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def _postgres(url: str, schema: str | None, query: str, params: tuple) -> list[tuple]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.read_only = True
        if schema:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        exists = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
        if exists is None or exists[0] is None:
            return []
        return conn.execute(query, params).fetchall()


def recent_decisions(settings: Settings, filters: Filters, limit: int = 50) -> list[DecisionRow]:
    """The newest decisions that pass ``filters``, newest first (at most ``MAX_ROWS``)."""
    params = (
        filters.symbol,
        filters.symbol,
        filters.action,
        filters.action,
        filters.strategy,
        filters.strategy,
        max(1, min(limit, MAX_ROWS)),
    )
    return [_row(values) for values in _query(settings, _SQLITE_LIST, _POSTGRES_LIST, params)]


def decision(settings: Settings, decision_id: str) -> DecisionRow | None:
    """One decision with its full request (bars included), or None when the store has no such id."""
    rows = _query(settings, _SQLITE_ONE, _POSTGRES_ONE, (decision_id,))
    return _row(rows[0]) if rows else None


def equity_marks(settings: Settings, limit: int = MAX_MARKS) -> list[tuple[str, str | None, float]]:
    """(decided at, book, equity) of the newest decisions that were asked with a portfolio,
    oldest first: the equity curve each book's decisions saw."""
    rows = _query(settings, _SQLITE_EQUITY, _POSTGRES_EQUITY, (max(1, min(limit, MAX_MARKS)),))
    return [
        (at if isinstance(at, str) else at.isoformat(), book, float(equity))
        for at, book, equity in reversed(rows)
    ]
