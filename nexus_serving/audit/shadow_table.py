"""The ``decision_shadow`` table: what the challengers said about a decision, beside its audit row.

One row per decision scored in shadow, keyed by its ``decision_id``: the model versions
scored (the champions with each challenger in its model's place), the challengers among them,
the challengers' numbers and the policy's decision with them, or why they could not score.
``decision_shadow_pair`` joins each row to its decision's audit row, so monitoring compares
champion and challenger on the same decisions with one query (``read_shadow_pairs``).
Created by the audit sinks' own migration (``sinks``), in the SQLite file or the PostgreSQL schema.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
from psycopg import sql

from nexus_assets.paths import decision_store_location
from nexus_assets.postgres_migrate import view_if_missing

SHADOW_TABLE = "decision_shadow"
PAIR_VIEW = "decision_shadow_pair"
ShadowRow = tuple[
    str,
    datetime,
    datetime,
    str,
    str,
    float | None,
    float | None,
    float | None,
    str | None,
    float | None,
    str | None,
]
"""decision_id, decided_at, scored_at, model_versions and challenger_versions (JSON),
predicted_return, volatility_forecast, anomaly_score, action, target_weight, error."""
SHADOW_COLUMNS = (
    "decision_id, decided_at, scored_at, model_versions, challenger_versions, predicted_return, "
    "volatility_forecast, anomaly_score, action, target_weight, error"
)
_CHAMPION = ("predicted_return", "volatility_forecast", "anomaly_score", "action", "target_weight")

SQLITE_SHADOW_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {SHADOW_TABLE} (
        decision_id TEXT PRIMARY KEY,
        decided_at TEXT NOT NULL,
        scored_at TEXT NOT NULL,
        model_versions TEXT NOT NULL,
        challenger_versions TEXT NOT NULL,
        predicted_return REAL,
        volatility_forecast REAL,
        anomaly_score REAL,
        action TEXT,
        target_weight REAL,
        error TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {SHADOW_TABLE}_decided_at ON {SHADOW_TABLE} (decided_at)",
    f"CREATE VIEW IF NOT EXISTS {PAIR_VIEW} AS SELECT s.decision_id, s.decided_at, a.symbol, "
    "a.model_versions AS champion_versions, s.model_versions AS shadow_versions, s.challenger_versions, "
    + ", ".join(f"json_extract(a.response, '$.{c}') AS champion_{c}, s.{c} AS shadow_{c}" for c in _CHAMPION)
    + f", s.error FROM {SHADOW_TABLE} s JOIN decision_audit a ON a.decision_id = s.decision_id",
)
POSTGRES_SHADOW_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {SHADOW_TABLE} (
        decision_id TEXT PRIMARY KEY,
        decided_at TIMESTAMPTZ NOT NULL,
        scored_at TIMESTAMPTZ NOT NULL,
        model_versions JSONB NOT NULL,
        challenger_versions JSONB NOT NULL,
        predicted_return DOUBLE PRECISION,
        volatility_forecast DOUBLE PRECISION,
        anomaly_score DOUBLE PRECISION,
        action TEXT,
        target_weight DOUBLE PRECISION,
        error TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {SHADOW_TABLE}_decided_at ON {SHADOW_TABLE} (decided_at)",
    view_if_missing(
        PAIR_VIEW,
        "SELECT s.decision_id, s.decided_at, a.symbol, a.model_versions AS champion_versions, "
        "s.model_versions AS shadow_versions, s.challenger_versions, "
        + ", ".join(
            f"(a.response->>'{c}'){'' if c == 'action' else '::double precision'} AS champion_{c}, s.{c} AS shadow_{c}"
            for c in _CHAMPION
        )
        + f", s.error FROM {SHADOW_TABLE} s JOIN decision_audit a ON a.decision_id = s.decision_id",
    ),
)
SQLITE_SHADOW_INSERT = (
    f"INSERT OR IGNORE INTO {SHADOW_TABLE} ({SHADOW_COLUMNS}) VALUES ({', '.join('?' * 11)})"
)
POSTGRES_SHADOW_INSERT = (
    f"INSERT INTO {SHADOW_TABLE} ({SHADOW_COLUMNS}) VALUES "
    "(%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s) ON CONFLICT (decision_id) DO NOTHING"
)


def sqlite_shadow_values(row: ShadowRow) -> tuple:
    return (row[0], row[1].isoformat(), row[2].isoformat(), *row[3:])


@dataclass(frozen=True)
class ShadowPair:
    """One decision as the champions made it and as the challengers would have."""

    decision_id: str
    decided_at: datetime
    symbol: str
    champion_versions: dict[str, str]
    shadow_versions: dict[str, str]
    challenger_versions: dict[str, str]
    champion: dict[str, float | str | None]
    """``predicted_return``, ``volatility_forecast``, ``anomaly_score``, ``action``, ``target_weight``."""
    shadow: dict[str, float | str | None]
    """The same with the challengers; all None when they could not score (``error`` says why)."""
    error: str | None


def read_shadow_pairs(
    url: str | None = None, schema: str | None = None, since: datetime | None = None, limit: int = 100_000
) -> list[ShadowPair]:
    """The decisions scored in shadow (oldest first, from ``since``, UTC), each beside its champion decision.

    ``url`` as ``NEXUS_AUDIT_DATABASE_URL`` (None: the default SQLite file), ``schema`` as
    ``NEXUS_AUDIT_SCHEMA``. A store without the table yet reads as no rows.
    """
    location = decision_store_location(url)
    query = f"SELECT * FROM {PAIR_VIEW}"
    if isinstance(location, Path):
        if not location.exists():
            return []
        with sqlite3.connect(location) as conn:
            try:
                rows = conn.execute(
                    query + " WHERE decided_at >= ? ORDER BY decided_at LIMIT ?",
                    ((since.isoformat() if since else ""), limit),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise
        return [_pair(row, datetime.fromisoformat(row[1])) for row in rows]
    with psycopg.connect(location, autocommit=True) as conn:
        if schema:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        try:
            rows = conn.execute(
                query + " WHERE decided_at >= %s ORDER BY decided_at LIMIT %s",
                (since or datetime(1970, 1, 1, tzinfo=UTC), limit),
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [_pair(row, row[1]) for row in rows]


def _pair(row: tuple, decided_at: datetime) -> ShadowPair:
    def parsed(value: str | dict) -> dict[str, str]:
        return orjson.loads(value) if isinstance(value, str) else value

    values = row[6:-1]
    return ShadowPair(
        decision_id=row[0],
        decided_at=decided_at,
        symbol=row[2],
        champion_versions=parsed(row[3]),
        shadow_versions=parsed(row[4]),
        challenger_versions=parsed(row[5]),
        champion=dict(zip(_CHAMPION, values[0::2], strict=True)),
        shadow=dict(zip(_CHAMPION, values[1::2], strict=True)),
        error=row[-1],
    )
