"""Where audit rows go: a SQLite file (the embedded default) or a PostgreSQL table.

A sink is used from the audit writer thread only. It connects lazily, runs its idempotent
migration on every (re)connect, and after any failure drops its connection so the next
write starts clean: a database that comes back, or a table dropped by hand, heals itself.

A batch the database refuses for its content (PostgreSQL stores no U+0000, for one) is never
retried as is, or it would block every later record: its rows are written one by one and each
refused row goes, as escaped ASCII JSON, to ``decision_audit_rejected`` with the database's
reason, where an operator can read it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from nexus_assets.paths import nexus_home

TABLE = "decision_audit"
REJECTED_TABLE = "decision_audit_rejected"
AuditRow = tuple[str, str, datetime, str, str, str, str, float, str, str]
"""decision_id, request_id, decided_at, symbol, action, model_versions, features_hash,
latency_ms, request, response (the three JSON values already serialised)."""

PAGE_SIZE = 16_384
"""SQLite page size of a new audit file."""
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)
_MIGRATION_LOCK = 0x4E455855_41554449  # pg_advisory_xact_lock key: several workers may start at once


class AuditSink(Protocol):
    description: str
    """The destination, safe to log (no password)."""

    def write(self, rows: Sequence[AuditRow]) -> int:
        """Store ``rows``; a row already stored is skipped, so a retry is safe.

        Returns how many rows the database refused for their content and that went to the
        rejected table instead; a database that cannot be reached raises.
        """

    def redact(self, text: str) -> str:
        """``text`` with this sink's secret removed (error messages may quote the connection string)."""

    def close(self) -> None: ...


def mask_url(url: str) -> str:
    """``url`` with its password, in the authority or a ``password=`` parameter, replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    masked = parts._replace(netloc=netloc, query=_PASSWORD_PARAM.sub(r"\1***", parts.query))
    return _PASSWORD_PARAM.sub(r"\1***", masked.geturl())


def default_sqlite_path() -> Path:
    return nexus_home() / "serving" / "audit.db"


def open_sink(url: str | None, schema: str | None = None) -> AuditSink:
    """The sink a URL names: none -> the default SQLite file, ``sqlite:///path``, ``postgresql://...``."""
    if not url:
        return SqliteSink(default_sqlite_path())
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise ValueError("a SQLite audit URL is sqlite:///relative/path or sqlite:////absolute/path")
        return SqliteSink(Path(url.removeprefix("sqlite:///")))
    if scheme.partition("+")[0] in ("postgresql", "postgres"):
        return PostgresSink("postgresql" + url[len(scheme) :], schema)
    raise ValueError(f"unsupported audit database URL scheme {scheme!r}: use sqlite:/// or postgresql://")


def rejected_json(row: AuditRow) -> str:
    """The row as JSON in escaped ASCII: every database stores it, whatever characters it holds."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in row]
    return json.dumps(values, ensure_ascii=True)


def _escaped(text: str) -> str:
    """``text`` in escaped ASCII (no U+0000, no lone surrogate): storable by every database."""
    return text.encode("unicode_escape").decode("ascii")


class _ReconnectingSink:
    """Connects lazily; after any failure drops the connection, so the next write reconnects and re-migrates."""

    _conn: sqlite3.Connection | psycopg.Connection | None = None
    _content_errors: tuple[type[Exception], ...] = ()
    """Errors that say a row's content is refused, not that the database is unavailable."""

    def _connect(self) -> sqlite3.Connection | psycopg.Connection:
        raise NotImplementedError

    def _insert(self, conn: Any, rows: Sequence[AuditRow]) -> None:
        raise NotImplementedError

    def _reject(self, conn: Any, rejected: tuple[str, str, str]) -> None:
        """Store (decision_id, reason, row_json) in the rejected table."""
        raise NotImplementedError

    def write(self, rows: Sequence[AuditRow]) -> int:
        if self._conn is None:
            self._conn = self._connect()
        try:
            try:
                self._insert(self._conn, rows)
                return 0
            except self._content_errors:
                return self._insert_each(self._conn, rows)
        except BaseException:
            self.close()
            raise

    def _insert_each(self, conn: Any, rows: Sequence[AuditRow]) -> int:
        rejected = 0
        for row in rows:
            try:
                self._insert(conn, [row])
            except self._content_errors as exc:
                self._reject(conn, (_escaped(row[0]), _escaped(str(exc)), rejected_json(row)))
                rejected += 1
        return rejected

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


class SqliteSink(_ReconnectingSink):
    _DDL = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            decision_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL,
            decided_at TEXT NOT NULL,
            symbol TEXT NOT NULL,
            action TEXT NOT NULL,
            model_versions TEXT NOT NULL,
            features_hash TEXT NOT NULL,
            latency_ms REAL NOT NULL,
            request TEXT NOT NULL,
            response TEXT NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_decided_at ON {TABLE} (decided_at)",
        f"""CREATE TABLE IF NOT EXISTS {REJECTED_TABLE} (
            decision_id TEXT PRIMARY KEY,
            rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            reason TEXT NOT NULL,
            row_json TEXT NOT NULL
        )""",
    )
    _INSERT = f"INSERT OR IGNORE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    _REJECT = f"INSERT OR IGNORE INTO {REJECTED_TABLE} (decision_id, reason, row_json) VALUES (?, ?, ?)"
    _content_errors = (sqlite3.DataError, UnicodeEncodeError)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"sqlite:///{path}"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            # A row holds a whole request (~15 KB of bars): 16 KB pages store it in about one
            # page instead of a chain of four overflow pages, which halves the writer's CPU.
            # Takes effect when the file is created; an existing file keeps its page size.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:
                for statement in self._DDL:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    def _insert(self, conn: sqlite3.Connection, rows: Sequence[AuditRow]) -> None:
        with conn:
            conn.executemany(self._INSERT, [(*row[:2], row[2].isoformat(), *row[3:]) for row in rows])

    def _reject(self, conn: sqlite3.Connection, rejected: tuple[str, str, str]) -> None:
        with conn:
            conn.execute(self._REJECT, rejected)

    def redact(self, text: str) -> str:
        return text


class PostgresSink(_ReconnectingSink):
    """Rows in ``decision_audit`` (request and response as JSONB), in ``schema`` when one is given.

    Without ``schema`` the table goes where the connection's ``search_path`` points, so
    ``?options=-csearch_path%3Daudit`` in the URL works too.
    """

    _DDL = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            decision_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL,
            decided_at TIMESTAMPTZ NOT NULL,
            symbol TEXT NOT NULL,
            action TEXT NOT NULL,
            model_versions JSONB NOT NULL,
            features_hash TEXT NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            request JSONB NOT NULL,
            response JSONB NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_decided_at ON {TABLE} (decided_at)",
        f"""CREATE TABLE IF NOT EXISTS {REJECTED_TABLE} (
            decision_id TEXT PRIMARY KEY,
            rejected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            reason TEXT NOT NULL,
            row_json TEXT NOT NULL
        )""",
    )
    _INSERT = (
        f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb) "
        "ON CONFLICT (decision_id) DO NOTHING"
    )
    _REJECT = (
        f"INSERT INTO {REJECTED_TABLE} (decision_id, reason, row_json) VALUES (%s, %s, %s) "
        "ON CONFLICT (decision_id) DO NOTHING"
    )
    _content_errors = (psycopg.DataError, UnicodeEncodeError)
    """``DataError``: U+0000 in text or JSON (refused by psycopg before sending, or by the server),
    an invalid JSON escape, a value out of range."""

    def __init__(self, url: str, schema: str | None = None, connect_timeout_s: int = 5) -> None:
        self._url = url
        self._schema = schema
        self._connect_timeout_s = connect_timeout_s
        self._password = conninfo_to_dict(url).get("password") or ""
        self.description = mask_url(url) + (f" (schema {schema})" if schema else "")

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout_s)
        try:
            conn.execute("SET statement_timeout = '30s'")
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                if self._schema:
                    name = sql.Identifier(self._schema)
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                    conn.execute(sql.SQL("SET search_path TO {}").format(name))
                for statement in self._DDL:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    def _insert(self, conn: psycopg.Connection, rows: Sequence[AuditRow]) -> None:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(self._INSERT, rows)

    def _reject(self, conn: psycopg.Connection, rejected: tuple[str, str, str]) -> None:
        conn.execute(self._REJECT, rejected)

    def redact(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text
