"""Decision request bodies (v1 contract) from the simulated market, for tests, benchmarks and demos.

Bars are re-dated to daily bars ending an hour ago, so the anomaly rules see fresh data
whatever the simulation's own calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

BAR_VALUES = ("open", "high", "low", "close", "volume")


def decision_body(
    market: pl.DataFrame,
    *,
    request_id: str,
    symbol: str = "S0",
    bars: int = 120,
    side: str = "buy",
    strength: float = 0.8,
    as_symbol: str | None = None,
    portfolio: dict[str, Any] | None = None,
    bars_back: int = 0,
) -> dict[str, Any]:
    """The ``bars`` bars of ``symbol`` ending ``bars_back`` bars before its newest one."""
    history = market.filter(pl.col("symbol") == symbol)
    rows = history.slice(history.height - bars - bars_back, bars)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    stamps = [(end - timedelta(days=bars - 1 - i)).isoformat().replace("+00:00", "Z") for i in range(bars)]
    body: dict[str, Any] = {
        "request_id": request_id,
        "signal": {
            "signal_id": f"sig-{request_id}",
            "strategy_id": "st-1",
            "symbol": as_symbol or symbol,
            "side": side,
            "strength": strength,
            "timestamp": stamps[-1],
        },
        "bars": {"timestamp": stamps, **{c: rows[c].to_list() for c in BAR_VALUES}},
    }
    if portfolio is not None:
        body["portfolio"] = portfolio
    return body
