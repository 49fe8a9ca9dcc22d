"""A PostgreSQL connection whose tables are migrated on connect: the decision store's tables.

Several workers may connect at once; the migration runs under a transaction-scoped advisory
lock, so their ``CREATE ... IF NOT EXISTS`` never race.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

DECISION_STORE_LOCK = 0x4E455855_41554449
"""The advisory lock key of every migration of the decision store (audit log, request ids, risk
state): two migrations creating the same table under different keys would race."""


def connect_migrated(
    url: str,
    schema: str | None,
    ddl: Sequence[str],
    *,
    lock_key: int,
    connect_timeout_s: int = 5,
    statement_timeout: str = "30s",
) -> psycopg.Connection:
    """An autocommit connection to ``url`` with ``ddl`` applied, in ``schema`` when one is given
    (created if missing; without one the URL's ``search_path`` applies)."""
    conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s)
    try:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(statement_timeout)))
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
            if schema:
                name = sql.Identifier(schema)
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                conn.execute(sql.SQL("SET search_path TO {}").format(name))
            for statement in ddl:
                conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn
