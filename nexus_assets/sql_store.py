"""One connection to a store that is a SQLite file by default and a PostgreSQL database in production.

The risk state and the order ledger share this plumbing: a single connection kept and reopened
after any failure, every write in its own transaction (so a killed process keeps every write it
was told about), the tables migrated on connect, and the one difference between the two engines
that queries see (the parameter mark and how instants are stored).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from nexus_assets.postgres_migrate import connect_migrated

T = TypeVar("T")


class SqlStore:
    """Thread-safe; subclasses name their tables (DDL), their migration lock and their pragmas."""

    SQLITE_DDL: ClassVar[tuple[str, ...]] = ()
    POSTGRES_DDL: ClassVar[tuple[str, ...]] = ()
    MIGRATION_LOCK: ClassVar[int] = 0
    SQLITE_PRAGMAS: ClassVar[tuple[str, ...]] = ("PRAGMA journal_mode=WAL",)
    POSTGRES_NAME: ClassVar[str] = "the PostgreSQL store"
    """How ``description`` names a PostgreSQL store (its URL may hold a password)."""

    def __init__(self, location: Path | str, schema: str | None = None) -> None:
        self._location = location
        self._schema = schema
        self._conn: Any = None
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"sqlite:///{self._location}" if isinstance(self._location, Path) else self.POSTGRES_NAME

    @property
    def _postgres(self) -> bool:
        return not isinstance(self._location, Path)

    @property
    def _mark(self) -> str:
        """The parameter placeholder of the engine."""
        return "%s" if self._postgres else "?"

    def close(self) -> None:
        with self._lock:
            self._close()

    def _when(self, at: datetime) -> datetime | str:
        return at if self._postgres else at.astimezone(UTC).isoformat()

    def _write(self, conn: Any, statement: str, values: tuple) -> int:
        """Run one write in its own transaction; how many rows it changed."""
        if self._postgres:
            return conn.execute(statement, values).rowcount
        with conn:
            return conn.execute(statement, values).rowcount

    def _run(self, step: Callable[[Any], T]) -> T:
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
            for pragma in self.SQLITE_PRAGMAS:
                conn.execute(pragma)
            with conn:
                for statement in self.SQLITE_DDL:
                    conn.execute(statement)
            return conn
        return connect_migrated(
            self._location,
            self._schema,
            self.POSTGRES_DDL,
            lock_key=self.MIGRATION_LOCK,
            statement_timeout="5s",
        )
