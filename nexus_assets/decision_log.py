"""Served predictions, read back from the decision store's audit log for monitoring.

The decision service writes one ``decision_audit`` row per decision (its response and the model
versions that made it) into the SQLite file under ``NEXUS_HOME`` or the PostgreSQL database of
``NEXUS_AUDIT_DATABASE_URL`` (``NEXUS_AUDIT_SCHEMA``). This reads those rows, read-only, as the
frame ``ml.monitoring`` joins with what happened. The table's name and layout are the service's
(``nexus_serving.audit.sinks``); a test keeps the two in step.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from nexus_assets.ml.monitoring.outcomes import PREDICTION_COLUMNS
from nexus_assets.ml.registry.names import ANOMALY_MODEL, PREDICTOR_MODEL, VOLATILITY_MODEL
from nexus_assets.paths import decision_store_location

DECISION_TABLE = "decision_audit"
SHADOW_VIEW = "decision_shadow_pair"
"""The service's join of each decision scored in shadow with its audit row."""
_QUERY = (
    "SELECT decision_id, decided_at, symbol, model_versions, response, action, {strategy} FROM {table} "
    "WHERE decided_at >= {mark} ORDER BY decided_at"
)
_STRATEGY = {
    "sqlite": "json_extract(request, '$.signal.strategy_id')",
    "postgresql": "(request->'signal'->>'strategy_id')",
}
"""The decided signal's strategy, read in the database (the request's bars stay there)."""


def _instant(value: datetime | str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else orjson.loads(value)


def _rows(
    location: Path | str,
    schema: str | None,
    since: datetime,
    query: str = _QUERY,
    table: str = DECISION_TABLE,
) -> list[tuple]:
    if isinstance(location, Path):
        if not location.exists():
            return []
        uri = f"file:{location}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5.0) as conn:
            found = conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (table,)
            ).fetchone()
            if found is None:
                return []
            statement = query.format(table=table, mark="?", strategy=_STRATEGY["sqlite"])
            return conn.execute(statement, (since.isoformat(),)).fetchall()
    import psycopg
    from psycopg import sql

    with psycopg.connect(location, connect_timeout=5) as conn:
        if schema:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if exists is None or exists[0] is None:
            return []
        statement = query.format(table=table, mark="%s", strategy=_STRATEGY["postgresql"])
        return conn.execute(statement, (since,)).fetchall()


def served_predictions(
    url: str | None = None,
    schema: str | None = None,
    *,
    since: datetime | None = None,
    days: int = 365,
) -> pl.DataFrame:
    """Every decision made since ``since`` (default: ``days`` ago), one row per decision with the
    columns of ``PREDICTION_COLUMNS``; an empty frame when the store holds none yet."""
    since = since or datetime.now(UTC) - timedelta(days=days)
    records = []
    for decision_id, decided_at, symbol, versions, response, action, strategy_id in _rows(
        decision_store_location(url), schema, since
    ):
        made_by, answer = _json(versions), _json(response)
        records.append(
            {
                "decision_id": decision_id,
                "decided_at": _instant(decided_at),
                "symbol": symbol,
                "predictor_version": made_by.get(PREDICTOR_MODEL),
                "volatility_version": made_by.get(VOLATILITY_MODEL),
                "anomaly_version": made_by.get(ANOMALY_MODEL),
                "predicted_return": answer.get("predicted_return"),
                "volatility_forecast": answer.get("volatility_forecast"),
                "anomaly_score": answer.get("anomaly_score"),
                "confidence": answer.get("confidence"),
                "target_weight": answer.get("target_weight"),
                "action": action,
                "strategy_id": strategy_id,
            }
        )
    return pl.DataFrame(records, schema=PREDICTION_COLUMNS)


SHADOW_COLUMNS = {
    "decision_id": pl.String,
    "decided_at": pl.Datetime("us", "UTC"),
    "symbol": pl.String,
    "predictor_version": pl.String,
    "volatility_version": pl.String,
    "shadow_predictor_version": pl.String,
    "shadow_volatility_version": pl.String,
    "predicted_return": pl.Float64,
    "shadow_predicted_return": pl.Float64,
    "volatility_forecast": pl.Float64,
    "shadow_volatility_forecast": pl.Float64,
    "shadow_error": pl.String,
}
_SHADOW_QUERY = (
    "SELECT decision_id, decided_at, symbol, champion_versions, shadow_versions, champion_predicted_return, "
    "shadow_predicted_return, champion_volatility_forecast, shadow_volatility_forecast, error FROM {table} "
    "WHERE decided_at >= {mark} ORDER BY decided_at"
)


def shadow_pairs(
    url: str | None = None,
    schema: str | None = None,
    *,
    since: datetime | None = None,
    days: int = 365,
) -> pl.DataFrame:
    """Each decision scored in shadow: the champions' and the shadow set's versions and numbers on
    the same decision (``SHADOW_COLUMNS``); empty while no challenger has served."""
    since = since or datetime.now(UTC) - timedelta(days=days)
    records = []
    rows = _rows(decision_store_location(url), schema, since, _SHADOW_QUERY, SHADOW_VIEW)
    for decision_id, decided_at, symbol, champions, shadows, ret, shadow_ret, vol, shadow_vol, error in rows:
        made_by, shadow_set = _json(champions), _json(shadows)
        records.append(
            {
                "decision_id": decision_id,
                "decided_at": _instant(decided_at),
                "symbol": symbol,
                "predictor_version": made_by.get(PREDICTOR_MODEL),
                "volatility_version": made_by.get(VOLATILITY_MODEL),
                "shadow_predictor_version": shadow_set.get(PREDICTOR_MODEL),
                "shadow_volatility_version": shadow_set.get(VOLATILITY_MODEL),
                "predicted_return": ret,
                "shadow_predicted_return": shadow_ret,
                "volatility_forecast": vol,
                "shadow_volatility_forecast": shadow_vol,
                "shadow_error": error,
            }
        )
    return pl.DataFrame(records, schema=SHADOW_COLUMNS)
