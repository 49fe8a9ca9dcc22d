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


def view_if_missing(name: str, select: str) -> str:
    """DDL that creates view ``name`` as ``select`` only when no such relation exists yet.

    ``CREATE OR REPLACE VIEW`` takes an ACCESS EXCLUSIVE lock on every run, so a worker migrating
    on connect deadlocked against a reader of the view (a monitoring query beside a service
    start, seen in the tests). A view whose definition changes needs a migration of its own.
    """
    return (
        f"DO $create$ BEGIN IF to_regclass('{name}') IS NULL THEN "
        f"EXECUTE $view$CREATE VIEW {name} AS {select}$view$; END IF; END $create$"
    )


def column_if_missing(table: str, column: str, definition: str) -> str:
    """DDL that adds ``column`` to ``table`` only when it lacks it: ``ALTER TABLE ... ADD COLUMN IF
    NOT EXISTS`` takes an ACCESS EXCLUSIVE lock even when the column is there, which made every
    connecting worker wait for every reader of the table."""
    return (
        "DO $add$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = "
        f"current_schema() AND table_name = '{table}' AND column_name = '{column}') THEN "
        f"EXECUTE $alter$ALTER TABLE {table} ADD COLUMN {column} {definition}$alter$; END IF; END $add$"
    )


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
