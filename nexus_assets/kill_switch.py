"""The kill switch, kept in the decision store so every worker, replica and the allocation asset read one.

The store is the audit log's database: the SQLite file under ``NEXUS_HOME`` by default, or the
PostgreSQL database of ``NEXUS_AUDIT_DATABASE_URL`` (and ``NEXUS_AUDIT_SCHEMA``). Every change is
a row of ``risk_kill_switch_event`` (engaged or released, by whom, when, why); the newest row is
the switch's state, so the history of who stopped trading and why is never overwritten.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nexus_assets.paths import DECISION_STORE_PAGE_SIZE, decision_store_location
from nexus_assets.postgres_migrate import connect_migrated

TABLE = "risk_kill_switch_event"
_MIGRATION_LOCK = 0x4E455855_4B494C4C
_POSTGRES_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    engaged BOOLEAN NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    reason TEXT NOT NULL
)"""


@dataclass(frozen=True)
class KillSwitch:
    engaged: bool
    changed_by: str | None = None
    changed_at: datetime | None = None
    reason: str | None = None


RELEASED = KillSwitch(False)
"""The state of a store in which the switch was never set."""


class KillSwitchStore:
    """Reads and sets the switch; thread-safe, one connection kept and reopened after a failure."""

    def __init__(self, url: str | None = None, schema: str | None = None) -> None:
        self._location: Path | str = decision_store_location(url)
        self._schema = schema
        self._conn: Any = None
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return (
            f"sqlite:///{self._location}"
            if isinstance(self._location, Path)
            else "the PostgreSQL audit store"
        )

    def read(self) -> KillSwitch:
        """The newest change, or ``RELEASED``; raises when the store cannot be reached."""
        query = f"SELECT engaged, changed_by, changed_at, reason FROM {TABLE} ORDER BY id DESC LIMIT 1"
        row = self._run(lambda conn: conn.execute(query).fetchone())
        return RELEASED if row is None else _switch(row)

    def set(self, engaged: bool, changed_by: str, reason: str) -> KillSwitch:
        """Record a change and return the state it makes."""
        changed_at = datetime.now(UTC)
        postgres = not isinstance(self._location, Path)
        mark = "%s" if postgres else "?"
        insert = f"INSERT INTO {TABLE} (engaged, changed_by, changed_at, reason) VALUES ({mark}, {mark}, {mark}, {mark})"
        when = changed_at if postgres else changed_at.isoformat()

        def record(conn: Any) -> None:
            if postgres:
                conn.execute(insert, (engaged, changed_by, when, reason))
            else:
                with conn:
                    conn.execute(insert, (int(engaged), changed_by, when, reason))

        self._run(record)
        return KillSwitch(engaged, changed_by, changed_at, reason)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _run(self, step: Any) -> Any:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                return step(self._conn)
            except BaseException:
                self._close()
                raise

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _connect(self) -> Any:
        if isinstance(self._location, Path):
            self._location.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._location, timeout=5.0, check_same_thread=False)
            conn.execute(f"PRAGMA page_size={DECISION_STORE_PAGE_SIZE}")  # whoever creates the file first
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        engaged INTEGER NOT NULL,
                        changed_by TEXT NOT NULL,
                        changed_at TEXT NOT NULL,
                        reason TEXT NOT NULL
                    )"""
                )
            return conn
        return connect_migrated(
            self._location, self._schema, [_POSTGRES_DDL], lock_key=_MIGRATION_LOCK, statement_timeout="5s"
        )


def _switch(row: tuple) -> KillSwitch:
    engaged, changed_by, changed_at, reason = row
    if isinstance(changed_at, str):
        changed_at = datetime.fromisoformat(changed_at)
    return KillSwitch(bool(engaged), changed_by, changed_at, reason)
