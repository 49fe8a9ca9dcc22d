"""Our own record of every order sent to the Live Engine: exactly-once is ours, not the engine's.

The real engine ignores idempotency keys, so a publisher that retries, crashes or restarts must
know by itself what it already sent. Each intended order is written here **before** it is sent
(state ``sending``) and updated with the engine's id and status after (``placed``); an intent
still ``sending`` at the next publish is settled against the engine's order list
(``reconcile``) before anything is sent again. States:

- ``sending``: written, and perhaps at the engine: nothing may be sent for its symbol until it
  is settled;
- ``placed``: the engine answered (or its order list shows) the order; ``engine_status`` is
  the status last seen;
- ``unsent``: it never reached the engine (a refused connection, or absent from the engine's
  list once the in-flight grace passed);
- ``rejected``: the engine refused the request itself (a 400);
- ``lost``: the engine no longer holds the order (its store is in memory and forgets orders
  when it restarts).

The SQLite file under ``NEXUS_HOME`` by default, PostgreSQL in production
(``NEXUS_LEDGER_DATABASE_URL``, optionally ``NEXUS_LEDGER_SCHEMA``). Every write commits on its
own, so a killed publisher leaves every intent it wrote. ``exclusive`` keeps two publishers
(the Dagster asset and ``nexus publish``, say) from working on one deployment at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from nexus_assets.live_engine.models import Order, OrderRequest
from nexus_assets.paths import order_ledger_path, store_location
from nexus_assets.postgres_migrate import connect_migrated
from nexus_assets.sql_store import SqlStore

IntentState = Literal["sending", "placed", "unsent", "rejected", "lost"]
TABLE = "live_engine_order_intent"
LEDGER_LOCK = 0x4E455855_4C454447
"""The advisory lock key of the ledger's migration."""

_COLUMNS = (
    "client_key, allocation_id, deployment_id, symbol, side, order_type, quantity, limit_price, "
    "state, engine_order_id, engine_status, engine_created_at, detail, recorded_at, updated_at"
)
SQLITE_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        client_key TEXT PRIMARY KEY,
        allocation_id TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        quantity REAL NOT NULL,
        limit_price REAL,
        state TEXT NOT NULL,
        engine_order_id TEXT,
        engine_status TEXT,
        engine_created_at TEXT,
        detail TEXT,
        recorded_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_deployment ON {TABLE} (deployment_id, state)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_allocation ON {TABLE} (allocation_id, symbol)",
)
POSTGRES_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        client_key TEXT PRIMARY KEY,
        allocation_id TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        quantity DOUBLE PRECISION NOT NULL,
        limit_price DOUBLE PRECISION,
        state TEXT NOT NULL,
        engine_order_id TEXT,
        engine_status TEXT,
        engine_created_at TIMESTAMPTZ,
        detail TEXT,
        recorded_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_deployment ON {TABLE} (deployment_id, state)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_allocation ON {TABLE} (allocation_id, symbol)",
)


class LedgerBusyError(RuntimeError):
    """Another publisher holds the deployment."""


@dataclass(frozen=True)
class Intent:
    client_key: str
    """``{allocation_id}:{symbol}:{attempt}``; sent as the order's ``idempotencyKey``."""
    allocation_id: str
    deployment_id: str
    symbol: str
    side: str
    order_type: str
    quantity: float
    limit_price: float | None
    state: IntentState
    engine_order_id: str | None
    engine_status: str | None
    engine_created_at: datetime | None
    """With the id, what names the engine's order: the engine hands ids out again after a restart."""
    detail: str | None
    recorded_at: datetime
    updated_at: datetime

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity

    @property
    def is_open(self) -> bool:
        """Unsettled, or at the engine and able to fill."""
        return self.state == "sending" or (self.state == "placed" and self.engine_status == "pending")


class OrderLedger(SqlStore):
    """Thread-safe; one connection, reopened after a failure."""

    SQLITE_DDL = SQLITE_DDL
    POSTGRES_DDL = POSTGRES_DDL
    MIGRATION_LOCK = LEDGER_LOCK
    # An acknowledged intent survives a power cut.
    SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL")
    POSTGRES_NAME = "the PostgreSQL ledger"

    def __init__(self, url: str | None = None, schema: str | None = None) -> None:
        super().__init__(store_location(url, order_ledger_path()), schema)

    @classmethod
    def from_env(cls) -> OrderLedger:
        return cls(
            os.environ.get("NEXUS_LEDGER_DATABASE_URL") or None,
            os.environ.get("NEXUS_LEDGER_SCHEMA") or None,
        )

    # reads -------------------------------------------------------------------------------

    def intents(self, *, deployment_id: str | None = None, allocation_id: str | None = None) -> list[Intent]:
        """Intents in the order they were recorded, of one deployment and/or allocation."""
        mark = self._mark
        clauses, values = [], []
        for column, value in (("deployment_id", deployment_id), ("allocation_id", allocation_id)):
            if value is not None:
                clauses.append(f"{column} = {mark}")
                values.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT {_COLUMNS} FROM {TABLE}{where} ORDER BY recorded_at, client_key"
        rows = self._run(lambda conn: conn.execute(query, tuple(values)).fetchall())
        return [_intent(row) for row in rows]

    def open_intents(self, deployment_id: str) -> list[Intent]:
        return [i for i in self.intents(deployment_id=deployment_id) if i.is_open]

    # writes ------------------------------------------------------------------------------

    def record(self, request: OrderRequest, allocation_id: str) -> Intent:
        """Write the intent to send ``request`` (state ``sending``); committed when this returns."""
        now = datetime.now(UTC)
        intent = Intent(
            request.client_key,
            allocation_id,
            request.deployment_id,
            request.symbol,
            request.side,
            request.type,
            float(request.quantity),
            request.price,
            "sending",
            None,
            None,
            None,
            None,
            now,
            now,
        )
        insert = f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({', '.join([self._mark] * 15)})"
        values = (*astuple(intent)[:13], self._when(now), self._when(now))
        self._run(lambda conn: self._write(conn, insert, values))
        return intent

    def placed(self, client_key: str, order: Order, detail: str | None = None) -> None:
        """The engine holds ``order`` for this intent."""
        self._update(
            client_key,
            state="placed",
            engine_order_id=order.id,
            engine_status=order.status,
            engine_created_at=self._when(order.created_at),
            detail=detail,
        )

    def observed(self, client_key: str, status: str) -> None:
        """The engine's latest status of a placed intent's order."""
        self._update(client_key, engine_status=status)

    def settle(self, client_key: str, state: IntentState, detail: str) -> None:
        """Close an intent that holds no order at the engine: ``unsent``, ``rejected`` or ``lost``."""
        if state not in ("unsent", "rejected", "lost"):
            raise ValueError(f"state: {state!r} is not a settled state without an order")
        self._update(client_key, state=state, detail=detail)

    @contextmanager
    def exclusive(self, deployment_id: str) -> Iterator[None]:
        """Hold ``deployment_id`` for one publisher; raises ``LedgerBusyError`` when another has it."""
        key = int.from_bytes(
            hashlib.sha256(f"ledger:{deployment_id}".encode()).digest()[:8], "big", signed=True
        )
        if self._postgres:
            conn = connect_migrated(
                str(self._location), self._schema, POSTGRES_DDL, lock_key=LEDGER_LOCK, statement_timeout="5s"
            )
            try:
                if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    raise LedgerBusyError(f"another publisher holds deployment {deployment_id!r}")
                yield
            finally:
                conn.close()  # a session lock ends with its session
            return
        path = Path(f"{self._location}.{key & 0xFFFFFFFF:08x}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LedgerBusyError(f"another publisher holds deployment {deployment_id!r}") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # plumbing ----------------------------------------------------------------------------

    def _update(self, client_key: str, **columns: Any) -> None:
        mark = self._mark
        columns["updated_at"] = self._when(datetime.now(UTC))
        assignments = ", ".join(f"{name} = {mark}" for name in columns)
        statement = f"UPDATE {TABLE} SET {assignments} WHERE client_key = {mark}"
        changed = self._run(lambda conn: self._write(conn, statement, (*columns.values(), client_key)))
        if not changed:
            raise KeyError(client_key)


def _instant(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value.astimezone(UTC)


def _intent(row: tuple) -> Intent:
    (key, allocation, deployment, symbol, side, order_type, quantity, limit, state) = row[:9]
    (order_id, status, created, detail, recorded, updated) = row[9:]
    return Intent(
        key,
        allocation,
        deployment,
        symbol,
        side,
        order_type,
        float(quantity),
        None if limit is None else float(limit),
        state,
        order_id,
        status,
        _instant(created),
        detail,
        _instant(recorded),  # type: ignore[arg-type]
        _instant(updated),  # type: ignore[arg-type]
    )
