"""The risk state every worker, replica and the allocation asset share: kept in the decision store.

The store is the audit log's database: the SQLite file under ``NEXUS_HOME`` by default, or the
PostgreSQL database of ``NEXUS_AUDIT_DATABASE_URL`` (and ``NEXUS_AUDIT_SCHEMA``). It holds:

- the **kill switch**: every change is a row of ``risk_kill_switch_event`` (engaged or released,
  by whom, when, why); the newest row is the switch's state, so its history is never overwritten;
- the **anomaly latch** of each symbol (``risk_anomaly_latch``): halted or not, and the decision
  that last moved it. A move is written in the transaction that stores that decision's audit
  row (``RiskMove``), so an acknowledged decision's move survives any crash;
- the **equity mark** of each named book (``risk_equity_mark``): its latest equity and its high-water
  mark, for the drawdown breaker. A reset (after a withdrawal, say) starts a new ``generation``;
  moves decided under an older generation no longer raise the mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nexus_assets.paths import DECISION_STORE_PAGE_SIZE, decision_store_location
from nexus_assets.postgres_migrate import DECISION_STORE_LOCK
from nexus_assets.sql_store import SqlStore

KILL_SWITCH_TABLE = "risk_kill_switch_event"
LATCH_TABLE = "risk_anomaly_latch"
MARK_TABLE = "risk_equity_mark"

SQLITE_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {KILL_SWITCH_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        engaged INTEGER NOT NULL,
        changed_by TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LATCH_TABLE} (
        symbol TEXT PRIMARY KEY,
        halted INTEGER NOT NULL,
        anomaly_score REAL NOT NULL,
        decision_id TEXT NOT NULL,
        changed_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    f"""CREATE TABLE IF NOT EXISTS {MARK_TABLE} (
        book TEXT PRIMARY KEY,
        equity REAL NOT NULL,
        peak_equity REAL NOT NULL,
        generation INTEGER NOT NULL,
        decision_id TEXT,
        updated_at TEXT NOT NULL,
        reset_by TEXT,
        reset_reason TEXT
    ) WITHOUT ROWID""",
)
POSTGRES_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {KILL_SWITCH_TABLE} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        engaged BOOLEAN NOT NULL,
        changed_by TEXT NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL,
        reason TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LATCH_TABLE} (
        symbol TEXT PRIMARY KEY,
        halted BOOLEAN NOT NULL,
        anomaly_score DOUBLE PRECISION NOT NULL,
        decision_id TEXT NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {MARK_TABLE} (
        book TEXT PRIMARY KEY,
        equity DOUBLE PRECISION NOT NULL,
        peak_equity DOUBLE PRECISION NOT NULL,
        generation BIGINT NOT NULL,
        decision_id TEXT,
        updated_at TIMESTAMPTZ NOT NULL,
        reset_by TEXT,
        reset_reason TEXT
    )""",
)

_LATCH_UPSERT = (
    f"INSERT INTO {LATCH_TABLE} (symbol, halted, anomaly_score, decision_id, changed_at) "
    "VALUES ({m}, {m}, {m}, {m}, {m}) ON CONFLICT (symbol) DO UPDATE SET halted = excluded.halted, "
    "anomaly_score = excluded.anomaly_score, decision_id = excluded.decision_id, "
    "changed_at = excluded.changed_at"
)
_MARK_UPSERT = (
    f"INSERT INTO {MARK_TABLE} AS m (book, equity, peak_equity, generation, decision_id, updated_at) "
    "VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (book) DO UPDATE SET equity = excluded.equity, "
    "peak_equity = {greatest}(m.peak_equity, excluded.peak_equity), decision_id = excluded.decision_id, "
    "updated_at = excluded.updated_at WHERE excluded.generation = m.generation"
)
SQLITE_LATCH_UPSERT = _LATCH_UPSERT.format(m="?")
POSTGRES_LATCH_UPSERT = _LATCH_UPSERT.format(m="%s")
SQLITE_MARK_UPSERT = _MARK_UPSERT.format(m="?", greatest="MAX")
POSTGRES_MARK_UPSERT = _MARK_UPSERT.format(m="%s", greatest="GREATEST")


@dataclass(frozen=True)
class KillSwitch:
    engaged: bool
    changed_by: str | None = None
    changed_at: datetime | None = None
    reason: str | None = None


RELEASED = KillSwitch(False)
"""The state of a store in which the switch was never set."""


@dataclass(frozen=True, slots=True)
class Latch:
    symbol: str
    halted: bool
    anomaly_score: float
    """The score of the decision that moved it."""
    decision_id: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class EquityMark:
    book: str
    equity: float
    """The latest equity a decision was asked with."""
    peak_equity: float
    """The high-water mark since the last reset."""
    generation: int
    updated_at: datetime
    reset_by: str | None = None
    reset_reason: str | None = None

    @property
    def drawdown(self) -> float:
        return 1.0 - self.equity / self.peak_equity


@dataclass(frozen=True)
class RiskSnapshot:
    """The whole shared risk state, as read at one time."""

    kill_switch: KillSwitch
    latches: dict[str, Latch]
    marks: dict[str, EquityMark]


@dataclass(frozen=True, slots=True)
class RiskMove:
    """What one decision changes in the shared risk state, stored with its audit row."""

    symbol: str
    halted: bool | None
    """The latch's new state when this decision moved it; None when it did not."""
    anomaly_score: float
    book: str | None = None
    """The book the request named; None: no equity mark is kept for it."""
    equity: float = 0.0
    peak_equity: float = 0.0
    generation: int = 0
    """The mark's generation the decision saw (its raise of the peak is void after a reset)."""

    def as_list(self) -> list[Any]:
        return [
            self.symbol,
            self.halted,
            self.anomaly_score,
            self.book,
            self.equity,
            self.peak_equity,
            self.generation,
        ]

    @classmethod
    def of_list(cls, values: Sequence[Any]) -> RiskMove:
        symbol, halted, score, book, equity, peak, generation = values
        return cls(symbol, halted, float(score), book, float(equity), float(peak), int(generation))


Moved = tuple[str, "str | datetime", RiskMove]
"""A stored decision's id, its decision time (as the store keeps it) and its move."""


def latch_rows(moves: Iterable[Moved]) -> list[tuple]:
    """Upsert parameters for the latch moves, the last per symbol."""
    last: dict[str, tuple] = {}
    for decision_id, at, move in moves:
        if move.halted is not None:
            last[move.symbol] = (move.symbol, move.halted, move.anomaly_score, decision_id, at)
    return list(last.values())


def mark_rows(moves: Iterable[Moved]) -> list[tuple]:
    """Upsert parameters for the equity marks: per book and generation, the last equity and the
    highest peak."""
    marks: dict[tuple[str, int], list[Any]] = {}
    for decision_id, at, move in moves:
        if move.book is None:
            continue
        key = (move.book, move.generation)
        peak = max(move.peak_equity, move.equity)
        held = marks.get(key)
        if held is None:
            marks[key] = [move.book, move.equity, peak, move.generation, decision_id, at]
        else:
            held[1], held[2], held[4], held[5] = move.equity, max(held[2], peak), decision_id, at
    return [tuple(row) for row in marks.values()]


class RiskStore(SqlStore):
    """Reads and sets the shared risk state; thread-safe, one connection kept and reopened after a failure."""

    SQLITE_DDL = SQLITE_DDL
    POSTGRES_DDL = POSTGRES_DDL
    MIGRATION_LOCK = DECISION_STORE_LOCK
    # The page size takes effect only for whoever creates the file first.
    SQLITE_PRAGMAS = (f"PRAGMA page_size={DECISION_STORE_PAGE_SIZE}", "PRAGMA journal_mode=WAL")
    POSTGRES_NAME = "the PostgreSQL audit store"

    def __init__(self, url: str | None = None, schema: str | None = None) -> None:
        super().__init__(decision_store_location(url), schema)

    def read(self) -> KillSwitch:
        """The kill switch: the newest change, or ``RELEASED``; raises when the store cannot be reached."""
        query = f"SELECT engaged, changed_by, changed_at, reason FROM {KILL_SWITCH_TABLE} ORDER BY id DESC LIMIT 1"
        row = self._run(lambda conn: conn.execute(query).fetchone())
        return RELEASED if row is None else _switch(row)

    def set(self, engaged: bool, changed_by: str, reason: str) -> KillSwitch:
        """Record a change of the kill switch and return the state it makes."""
        changed_at = datetime.now(UTC)
        mark = self._mark
        insert = (
            f"INSERT INTO {KILL_SWITCH_TABLE} (engaged, changed_by, changed_at, reason) "
            f"VALUES ({mark}, {mark}, {mark}, {mark})"
        )
        values = (engaged, changed_by, self._when(changed_at), reason)
        self._run(lambda conn: self._write(conn, insert, values))
        return KillSwitch(engaged, changed_by, changed_at, reason)

    def latches(self) -> dict[str, Latch]:
        """Every symbol's anomaly latch as last moved; a symbol never moved is not halted."""
        query = f"SELECT symbol, halted, anomaly_score, decision_id, changed_at FROM {LATCH_TABLE}"
        rows = self._run(lambda conn: conn.execute(query).fetchall())
        return {row[0]: Latch(row[0], bool(row[1]), float(row[2]), row[3], _instant(row[4])) for row in rows}

    def marks(self) -> dict[str, EquityMark]:
        """Every named book's equity mark."""
        query = (
            "SELECT book, equity, peak_equity, generation, updated_at, reset_by, reset_reason "
            f"FROM {MARK_TABLE}"
        )
        rows = self._run(lambda conn: conn.execute(query).fetchall())
        return {
            row[0]: EquityMark(
                row[0], float(row[1]), float(row[2]), int(row[3]), _instant(row[4]), row[5], row[6]
            )
            for row in rows
        }

    def snapshot(self) -> RiskSnapshot:
        """The kill switch, every latch and every mark; raises when the store cannot be reached."""
        return RiskSnapshot(self.read(), self.latches(), self.marks())

    def reset_mark(
        self, book: str, reset_by: str, reason: str, peak_equity: float | None = None
    ) -> EquityMark:
        """Start a new generation of ``book``'s mark, its peak set to ``peak_equity`` (default: its
        latest equity, so its drawdown is zero). Raises ``KeyError`` for a book never marked."""
        at = datetime.now(UTC)
        mark = self._mark
        update = (
            f"UPDATE {MARK_TABLE} SET peak_equity = COALESCE({mark}, equity), generation = generation + 1, "
            f"updated_at = {mark}, reset_by = {mark}, reset_reason = {mark} WHERE book = {mark}"
        )
        values = (peak_equity, self._when(at), reset_by, reason, book)
        if not self._run(lambda conn: self._write(conn, update, values)):
            raise KeyError(book)
        return self.marks()[book]


def _instant(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _switch(row: tuple) -> KillSwitch:
    engaged, changed_by, changed_at, reason = row
    return KillSwitch(bool(engaged), changed_by, _instant(changed_at), reason)
