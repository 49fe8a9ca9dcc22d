"""Every allocation's predictions, kept for monitoring: the stored allocation is replaced each run.

`portfolio_allocation` writes one Parquet file per allocation id under
``<NEXUS_DATA_DIR>/allocation_predictions/`` (a folder or an fsspec URL, as the asset data): per
symbol the predicted return, volatility forecast, anomaly score, confidence and target weight,
and the champion versions that made them. Writing an id again writes the same rows, so a
re-run stores nothing twice. `model_monitoring` reads them beside the served decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl
from upath import UPath

from nexus_assets.lona.wire import parse_time
from nexus_assets.ml.monitoring.outcomes import PREDICTION_COLUMNS
from nexus_assets.ml.registry.names import ANOMALY_MODEL, PREDICTOR_MODEL, VOLATILITY_MODEL
from nexus_assets.paths import data_dir
from nexus_assets.stored_files import write_atomically

HISTORY_DIR = "allocation_predictions"


def history_path(base: str | None = None) -> UPath:
    return UPath(base or data_dir()) / HISTORY_DIR


def allocation_predictions(
    table: pl.DataFrame, versions: Mapping[str, str], allocation_id: str
) -> pl.DataFrame:
    """The allocation's predictions in the monitoring layout (``PREDICTION_COLUMNS``), one row per
    symbol with a prediction, placed at the allocation's bar (``as_of``)."""
    rows = table.filter(pl.col("predicted_return").is_not_null())
    return pl.DataFrame(
        {
            "decision_id": [f"{allocation_id}:{s}" for s in rows["symbol"]],
            "decided_at": [parse_time(a) for a in rows["as_of"]],
            "symbol": rows["symbol"],
            "predictor_version": [versions.get(PREDICTOR_MODEL)] * rows.height,
            "volatility_version": [versions.get(VOLATILITY_MODEL)] * rows.height,
            "anomaly_version": [versions.get(ANOMALY_MODEL)] * rows.height,
            "predicted_return": rows["predicted_return"],
            "volatility_forecast": rows["volatility_forecast"],
            "anomaly_score": rows["anomaly_score"],
            "confidence": rows["confidence"],
            "target_weight": rows["target_weight"],
            "action": rows["action"],
            "strategy_id": [None] * rows.height,
        },
        schema=PREDICTION_COLUMNS,
    )


def record_allocation(
    table: pl.DataFrame, versions: Mapping[str, str], allocation_id: str, base: str | None = None
) -> UPath:
    """Keep the allocation's predictions (``<allocation_id>.parquet``); returns where."""
    folder = history_path(base)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{allocation_id}.parquet"
    write_atomically(path, allocation_predictions(table, versions, allocation_id).write_parquet)
    return path


def allocated_predictions(base: str | None = None, since: datetime | None = None) -> pl.DataFrame:
    """Every kept allocation's predictions (from ``since``), oldest first; empty when none are kept."""
    folder = history_path(base)
    frames = []
    if folder.exists():
        for path in sorted(folder.iterdir()):
            if path.name.endswith(".parquet"):
                with path.open("rb") as handle:
                    frames.append(pl.read_parquet(handle))
    if not frames:
        return pl.DataFrame(schema=PREDICTION_COLUMNS)
    # Files kept before a column was added lack it: it reads as null.
    frame = pl.concat([pl.DataFrame(schema=PREDICTION_COLUMNS), *frames], how="diagonal_relaxed")
    frame = frame.select(list(PREDICTION_COLUMNS)).cast(PREDICTION_COLUMNS)  # type: ignore[arg-type]
    if since is not None:
        frame = frame.filter(pl.col("decided_at") >= since)
    return frame.sort("decided_at")
