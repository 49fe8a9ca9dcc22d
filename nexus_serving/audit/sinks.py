"""Where audit rows go: a SQLite file (the embedded default) or a PostgreSQL table.

A sink is used from the audit writer thread only. It connects lazily, runs its idempotent
migration on every (re)connect, and after any failure drops its connection so the next
write starts clean: a database that comes back, or a table dropped by hand, heals itself.

Each decision also claims its ``request_id`` in ``decision_request``, in the transaction that
stores its audit row. ``commit`` (new decisions) stores a decision only if its claim wins and
otherwise returns the holder, whose response the request gets instead: one id is decided once
across workers, replicas and restarts. ``write`` (decisions forwarded from the spool, already
answered) stores every row and claims the ids that are still free.

A batch the database refuses for its content (PostgreSQL stores no U+0000, for one) is never
retried as is, or it would block every later record: its rows are written one by one and each
refused row goes, as escaped ASCII JSON, to ``decision_audit_rejected`` with the database's
reason, where an operator can read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from nexus_assets.paths import DECISION_STORE_PAGE_SIZE, decision_store_location, decision_store_path
from nexus_assets.postgres_migrate import (
    DECISION_STORE_LOCK,
    column_if_missing,
    connect_migrated,
    view_if_missing,
)
from nexus_assets.risk_store import (
    POSTGRES_DDL,
    POSTGRES_LATCH_UPSERT,
    POSTGRES_MARK_UPSERT,
    SQLITE_DDL,
    SQLITE_LATCH_UPSERT,
    SQLITE_MARK_UPSERT,
    Moved,
    RiskMove,
    latch_rows,
    mark_rows,
)
from nexus_serving.audit.shadow_table import (
    POSTGRES_SHADOW_DDL,
    POSTGRES_SHADOW_INSERT,
    SQLITE_SHADOW_DDL,
    SQLITE_SHADOW_INSERT,
    ShadowRow,
    sqlite_shadow_values,
)

TABLE = "decision_audit"
REJECTED_TABLE = "decision_audit_rejected"
REQUEST_TABLE = "decision_request"
AuditRow = tuple[
    str, str, datetime, str, str, str, str, float, str, str, str, RiskMove | None, str, str | None
]
"""decision_id, request_id, decided_at, symbol, action, model_versions, features_hash,
latency_ms, request, response (the three JSON values already serialised), the request's
fingerprint in hex (``""`` for a row spooled before fingerprints were kept: it claims nothing),
what the decision changes in the shared risk state (stored in the same transaction), the
address of its bar window in hex (``""``: ``request`` holds its bars) and the window's bars as
JSON when this row is the first of its writer to carry them (else None: stored already)."""
AUDIT_COLUMNS = 10
"""The leading fields of a row that are the audit table's columns."""
FINGERPRINT = 10
RISK_MOVE = 11
WINDOW = 12
WINDOW_BARS = 13
WINDOW_TABLE = "decision_bar_window"
REQUEST_VIEW = "decision_audit_request"
"""Each audit row's request whole again: its stored fields with its window's bars put back."""


@dataclass(frozen=True, slots=True)
class Holder:
    """The decision that holds a request id: what a later request with that id is answered."""

    decision_id: str
    fingerprint: str
    response: str


@dataclass(frozen=True, slots=True)
class Committed:
    """What ``commit`` did: rows refused for their content, and the rows that lost their request
    id to an earlier decision (by decision id), each with that decision; the others are stored."""

    rejected: int = 0
    taken: dict[str, Holder] = field(default_factory=dict)


CHECKPOINT_INTERVAL_S = 1.0
"""How often a SQLite audit file's WAL is copied into the file (``WalCheckpoints``)."""
PAGE_SIZE = DECISION_STORE_PAGE_SIZE
"""SQLite page size of a new audit file."""
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


class AuditSink(Protocol):
    description: str
    """The destination, safe to log (no password)."""

    def commit(self, rows: Sequence[AuditRow]) -> Committed:
        """Store each row whose request id is free (or already its own), in one transaction.

        A retry is safe: a row stored by an earlier attempt finds its own claim. A database that
        cannot be reached raises.
        """

    def write(self, rows: Sequence[AuditRow]) -> int:
        """Store every row, claiming the request ids still free; a row already stored is skipped.

        Returns how many rows the database refused for their content and that went to the
        rejected table instead; a database that cannot be reached raises.
        """

    def write_shadow(self, rows: Sequence[ShadowRow]) -> None:
        """Store shadow scores (``decision_shadow``) in one transaction; a row already stored is skipped."""

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
    return decision_store_path()


def open_sink(url: str | None, schema: str | None = None, *, checkpoints: bool = True) -> AuditSink:
    """The sink a URL names: none -> the default SQLite file, ``sqlite:///path``, ``postgresql://...``.

    ``checkpoints``: whether a SQLite sink copies the WAL into the file (one sink per file does).
    """
    location = decision_store_location(url)
    if isinstance(location, Path):
        return SqliteSink(location, checkpoints=checkpoints)
    return PostgresSink(location, schema)


def rejected_json(row: AuditRow) -> str:
    """The row as JSON in escaped ASCII: every database stores it, whatever characters it holds."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in row[:RISK_MOVE]]
    move = row[RISK_MOVE]
    return json.dumps([*values, move and move.as_list(), *row[WINDOW:]], ensure_ascii=True)


def _escaped(text: str) -> str:
    """``text`` in escaped ASCII (no U+0000, no lone surrogate): storable by every database."""
    return text.encode("unicode_escape").decode("ascii")


COLUMNS = (
    "decision_id, request_id, decided_at, symbol, action, model_versions, features_hash, latency_ms, "
    "request, response, bars_window"
)


def _add_window_column(conn: sqlite3.Connection) -> None:
    """Give an audit file made before bar windows were kept its ``bars_window`` column."""
    if any(column[1] == "bars_window" for column in conn.execute(f"PRAGMA table_info({TABLE})")):
        return
    try:
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN bars_window TEXT")
    except sqlite3.OperationalError as exc:  # another worker added it meanwhile
        if "duplicate column" not in str(exc):
            raise


class _ReconnectingSink:
    """Connects lazily; after any failure drops the connection, so the next write reconnects and re-migrates."""

    _conn: sqlite3.Connection | psycopg.Connection | None = None
    _content_errors: tuple[type[Exception], ...] = ()
    """Errors that say a row's content is refused, not that the database is unavailable."""

    def _connect(self) -> sqlite3.Connection | psycopg.Connection:
        raise NotImplementedError

    def _store(self, conn: Any, rows: Sequence[AuditRow], arbitrate: bool) -> dict[str, Holder]:
        """Claim and store ``rows`` in one transaction; with ``arbitrate``, a row whose request id
        another decision holds is not stored and comes back with that holder."""
        raise NotImplementedError

    def _reject(self, conn: Any, rejected: tuple[str, str, str]) -> None:
        """Store (decision_id, reason, row_json) in the rejected table."""
        raise NotImplementedError

    def commit(self, rows: Sequence[AuditRow]) -> Committed:
        return self._stored(rows, arbitrate=True)

    def write_shadow(self, rows: Sequence[ShadowRow]) -> None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._store_shadow(self._conn, rows)
        except BaseException:
            self.close()
            raise

    def _store_shadow(self, conn: Any, rows: Sequence[ShadowRow]) -> None:
        raise NotImplementedError

    def write(self, rows: Sequence[AuditRow]) -> int:
        return self._stored(rows, arbitrate=False).rejected

    def _stored(self, rows: Sequence[AuditRow], arbitrate: bool) -> Committed:
        if self._conn is None:
            self._conn = self._connect()
        try:
            try:
                return Committed(0, self._store(self._conn, rows, arbitrate))
            except self._content_errors:
                return self._store_each(self._conn, rows, arbitrate)
        except BaseException:
            self.close()
            raise

    def _store_each(self, conn: Any, rows: Sequence[AuditRow], arbitrate: bool) -> Committed:
        """Row by row, each in its own transaction: a refused row goes to the rejected table
        (without its claim, so its id stays free) and the others are stored."""
        rejected, taken = 0, {}
        for row in rows:
            try:
                taken |= self._store(conn, [row], arbitrate)
            except self._content_errors as exc:
                self._reject(conn, (_escaped(row[0]), _escaped(str(exc)), rejected_json(row)))
                rejected += 1
        return Committed(rejected, taken)

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
            response TEXT NOT NULL,
            bars_window TEXT
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_decided_at ON {TABLE} (decided_at)",
        f"""CREATE TABLE IF NOT EXISTS {WINDOW_TABLE} (
            window_hash TEXT PRIMARY KEY,
            bars TEXT NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {REJECTED_TABLE} (
            decision_id TEXT PRIMARY KEY,
            rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            reason TEXT NOT NULL,
            row_json TEXT NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {REQUEST_TABLE} (
            request_id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            decision_id TEXT NOT NULL
        ) WITHOUT ROWID""",
        *SQLITE_DDL,
    )
    _VIEW = (
        f"CREATE VIEW IF NOT EXISTS {REQUEST_VIEW} AS SELECT a.decision_id, a.request_id, a.decided_at, "
        "CASE WHEN a.bars_window IS NULL THEN a.request ELSE json_set(a.request, '$.bars', json(w.bars)) END "
        f"AS request FROM {TABLE} a LEFT JOIN {WINDOW_TABLE} w ON w.window_hash = a.bars_window"
    )
    _INSERT = f"INSERT OR IGNORE INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    _WINDOW = f"INSERT OR IGNORE INTO {WINDOW_TABLE} VALUES (?, ?)"
    _CLAIM = f"INSERT OR IGNORE INTO {REQUEST_TABLE} VALUES (?, ?, ?)"
    _HOLDER = (
        f"SELECT r.decision_id, r.fingerprint, a.response FROM {REQUEST_TABLE} r "
        f"LEFT JOIN {TABLE} a ON a.decision_id = r.decision_id WHERE r.request_id = ?"
    )
    _REJECT = f"INSERT OR IGNORE INTO {REJECTED_TABLE} (decision_id, reason, row_json) VALUES (?, ?, ?)"
    _content_errors = (sqlite3.DataError, UnicodeEncodeError)

    def __init__(self, path: Path, *, checkpoints: bool = True) -> None:
        self.path = path
        self.description = f"sqlite:///{path}"
        self._copies_wal = checkpoints
        self._turn: int | None = None
        """The open lock file that orders the workers' transactions (``_write_turn``)."""
        self._checkpoints: WalCheckpoints | None = None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            # Small pages (rows are ~1 KB, bars are stored once per window): a commit writes
            # each page it touched to the WAL whole. Takes effect when the file is created; an
            # existing file keeps its page size (``VACUUM`` after ``PRAGMA page_size`` changes it).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # A commit that fills the WAL would copy it into the file before its requests are
            # answered (tens of milliseconds): checkpoints run beside the commits instead.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            with conn:
                for statement in self._DDL:
                    conn.execute(statement)
                _add_window_column(conn)
                conn.execute(self._VIEW)
                for statement in SQLITE_SHADOW_DDL:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        if self._checkpoints is None and self._copies_wal:
            self._checkpoints = WalCheckpoints(self.path)
        return conn

    def _store(
        self, conn: sqlite3.Connection, rows: Sequence[AuditRow], arbitrate: bool
    ) -> dict[str, Holder]:
        """Row by row in one transaction (the file's write lock makes it the only writer), so a
        later row of the batch sees an earlier one's claim."""
        taken: dict[str, Holder] = {}
        moved: list[Moved] = []
        with self._write_turn(), conn:
            conn.executemany(
                self._WINDOW, [(row[WINDOW], row[WINDOW_BARS]) for row in rows if row[WINDOW_BARS]]
            )
            for row in rows:
                decision_id, request_id, fingerprint = row[0], row[1], row[FINGERPRINT]
                if (
                    fingerprint
                    and not conn.execute(self._CLAIM, (request_id, fingerprint, decision_id)).rowcount
                ):
                    holder = Holder(*conn.execute(self._HOLDER, (request_id,)).fetchone())
                    if arbitrate and holder.decision_id != decision_id:
                        taken[decision_id] = holder
                        continue
                decided_at = row[2].isoformat()
                conn.execute(
                    self._INSERT,
                    (decision_id, request_id, decided_at, *row[3:AUDIT_COLUMNS], row[WINDOW] or None),
                )
                if (move := row[RISK_MOVE]) is not None:
                    moved.append((decision_id, decided_at, move))
            if moved:
                conn.executemany(SQLITE_LATCH_UPSERT, latch_rows(moved))
                conn.executemany(SQLITE_MARK_UPSERT, mark_rows(moved))
        return taken

    def _reject(self, conn: sqlite3.Connection, rejected: tuple[str, str, str]) -> None:
        with self._write_turn(), conn:
            conn.execute(self._REJECT, rejected)

    def _store_shadow(self, conn: sqlite3.Connection, rows: Sequence[ShadowRow]) -> None:
        with self._write_turn(), conn:
            conn.executemany(SQLITE_SHADOW_INSERT, [sqlite_shadow_values(row) for row in rows])

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """Hold the file's write turn among this host's workers while a transaction runs.

        Workers of one host share the file, and a writer that finds SQLite's lock taken polls
        it, sleeping 1 ms and then longer between tries; ``flock`` instead wakes the next worker
        as soon as the lock is released (see ``benchmarks/serving.py`` for what it costs without).
        """
        if self._turn is None:
            self._turn = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    def close(self) -> None:
        super().close()
        if self._checkpoints is not None:
            checkpoints, self._checkpoints = self._checkpoints, None
            checkpoints.stop()
        if self._turn is not None:
            turn, self._turn = self._turn, None
            os.close(turn)

    def redact(self, text: str) -> str:
        return text


class WalCheckpoints:
    """A thread that copies the SQLite WAL into the database file every ``interval_s``.

    PASSIVE: it never blocks a commit (it copies what no reader needs and gives up on the rest
    until next time), and SQLite runs it without the GIL, so commits stay as short as their
    own rows, which the requests waiting on them see.
    """

    def __init__(self, path: Path, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stopped.wait(self._interval_s):
            try:
                if conn is None:
                    conn = sqlite3.connect(self._path, timeout=1.0)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                if conn is not None:
                    conn.close()
                conn = None  # the file is gone or locked; the writer reports its own errors
        if conn is not None:
            conn.close()


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
        column_if_missing(TABLE, "bars_window", "TEXT"),
        f"CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_decided_at ON {TABLE} (decided_at)",
        f"""CREATE TABLE IF NOT EXISTS {WINDOW_TABLE} (
            window_hash TEXT PRIMARY KEY,
            bars JSONB NOT NULL
        )""",
        view_if_missing(
            REQUEST_VIEW,
            "SELECT a.decision_id, a.request_id, a.decided_at, CASE WHEN a.bars_window IS NULL THEN a.request "
            "ELSE a.request || jsonb_build_object('bars', w.bars) END AS request "
            f"FROM {TABLE} a LEFT JOIN {WINDOW_TABLE} w ON w.window_hash = a.bars_window",
        ),
        f"""CREATE TABLE IF NOT EXISTS {REJECTED_TABLE} (
            decision_id TEXT PRIMARY KEY,
            rejected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            reason TEXT NOT NULL,
            row_json TEXT NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {REQUEST_TABLE} (
            request_id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            decision_id TEXT NOT NULL
        )""",
        *POSTGRES_DDL,
        *POSTGRES_SHADOW_DDL,
    )
    _INSERT = (
        f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb, %s) "
        "ON CONFLICT (decision_id) DO NOTHING"
    )
    _WINDOW = f"INSERT INTO {WINDOW_TABLE} VALUES (%s, %s::jsonb) ON CONFLICT (window_hash) DO NOTHING"
    _CLAIM = (
        f"INSERT INTO {REQUEST_TABLE} (request_id, fingerprint, decision_id) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) "
        "ON CONFLICT (request_id) DO NOTHING RETURNING decision_id"
    )
    _HOLDERS = (
        f"SELECT r.request_id, r.decision_id, r.fingerprint, a.response::text FROM {REQUEST_TABLE} r "
        f"LEFT JOIN {TABLE} a ON a.decision_id = r.decision_id WHERE r.request_id = ANY(%s)"
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
        return connect_migrated(
            self._url,
            self._schema,
            self._DDL,
            lock_key=DECISION_STORE_LOCK,
            connect_timeout_s=self._connect_timeout_s,
        )

    def _store(
        self, conn: psycopg.Connection, rows: Sequence[AuditRow], arbitrate: bool
    ) -> dict[str, Holder]:
        """Claims in one statement, in request id order (two workers claiming overlapping ids
        lock them in the same order: no deadlock); then the rows that won, or all of them."""
        claims = sorted((row[1], row[FINGERPRINT], row[0]) for row in rows if row[FINGERPRINT])
        with conn.transaction(), conn.cursor() as cursor:
            windows = [(row[WINDOW], row[WINDOW_BARS]) for row in rows if row[WINDOW_BARS]]
            if windows:
                cursor.executemany(self._WINDOW, windows)
            cursor.execute(
                self._CLAIM, [list(column) for column in zip(*claims, strict=True)] or [[], [], []]
            )
            won = {decision_id for (decision_id,) in cursor.fetchall()}
            lost = [row for row in rows if row[FINGERPRINT] and row[0] not in won]
            if not arbitrate:
                stored = list(rows)
            else:  # a row that lost stays out, unless the holder is itself (a retried commit)
                stored = [row for row in rows if not row[FINGERPRINT] or row[0] in won]
            if stored:
                cursor.executemany(
                    self._INSERT, [(*row[:AUDIT_COLUMNS], row[WINDOW] or None) for row in stored]
                )
            moved = [(row[0], row[2], row[RISK_MOVE]) for row in stored if row[RISK_MOVE] is not None]
            if moved:
                cursor.executemany(POSTGRES_LATCH_UPSERT, latch_rows(moved))
                cursor.executemany(POSTGRES_MARK_UPSERT, mark_rows(moved))
            if not (arbitrate and lost):
                return {}
            cursor.execute(self._HOLDERS, ([row[1] for row in lost],))
            holders = {request_id: Holder(*held) for request_id, *held in cursor.fetchall()}
        return {row[0]: holders[row[1]] for row in lost if holders[row[1]].decision_id != row[0]}

    def _reject(self, conn: psycopg.Connection, rejected: tuple[str, str, str]) -> None:
        conn.execute(self._REJECT, rejected)

    def _store_shadow(self, conn: psycopg.Connection, rows: Sequence[ShadowRow]) -> None:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(POSTGRES_SHADOW_INSERT, rows)

    def redact(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text
